/**
 * A seeded pseudo-random source for the simulation: sfc32 (Chris Doty-
 * Humphrey's small fast counter), 128 bits of state, seeded from one 32-bit
 * integer through splitmix32. Every random choice of a simulated world comes
 * from one of these, forked from the world's seed, so a seed fixes the run.
 *
 * Laws: two SeededRandoms made from the same seed yield the same sequence;
 * `fork(label)` depends only on the parent's seed and the label (not on how
 * many numbers the parent has drawn), so adding draws in one part of the
 * world does not shift the choices of another.
 */
import type { Random } from '../effects.js';

const splitmix32 = (state: number): { readonly next: number; readonly value: number } => {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return { next, value: (z ^ (z >>> 16)) >>> 0 };
};

/** FNV-1a of a label, for forking named streams. */
const labelHash = (label: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
};

export class SeededRandom implements Random {
  readonly seed: number;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0..2^32-1, got ${seed}`);
    this.seed = seed;
    let s = seed | 0;
    const take = (): number => {
      const r = splitmix32(s);
      s = r.next;
      return r.value;
    };
    this.a = take();
    this.b = take();
    this.c = take();
    this.d = take();
    // The first outputs of sfc32 are weakly mixed; discard them.
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    if (max < min) throw new RangeError(`int: max ${max} < min ${min}`);
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick: empty array');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** An independent stream named `label`, fixed by this stream's seed and the label alone. */
  fork(label: string): SeededRandom {
    return new SeededRandom((Math.imul(this.seed ^ 0x5bd1e995, 0x27d4eb2d) ^ labelHash(label)) >>> 0);
  }
}

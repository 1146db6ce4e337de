/**
 * Key choosers of the YCSB core workloads, after YCSB's generators
 * (Cooper et al., SoCC 2010; zipfian sampling after Gray et al., "Quickly
 * generating billion-record synthetic databases", SIGMOD 1994):
 *
 * - `ZipfianGenerator`: rank r in [0, n) with P(r) ∝ 1/(r+1)^θ, rank 0 the
 *   most popular; the item count may grow (workload D's inserts) and ζ(n)
 *   is then extended incrementally.
 * - `scrambledZipfian`: the zipfian ranks of a huge item space (10^10, whose
 *   ζ for θ = 0.99 is the constant YCSB hard-codes) hashed with FNV-1a onto
 *   the records, so popular keys are spread over the key space instead of
 *   being the first records.
 * - `uniform`: every record equally likely.
 * - `latest`: the most recently inserted records are the most popular
 *   (YCSB's SkewedLatestGenerator over an acknowledged-insert counter).
 *
 * All draw from a seeded `Rng`, so a run is reproducible from its seed.
 */
import { fnvHash64Mod, type Rng } from './random.js';

export const ZIPFIAN_CONSTANT = 0.99;

/** ζ(n, θ) = Σ_{i=1..n} 1/i^θ, continued from ζ(from, θ) = `sum`. */
export const zeta = (from: number, n: number, theta: number, sum = 0): number => {
  let s = sum;
  for (let i = from; i < n; i++) s += 1 / Math.pow(i + 1, theta);
  return s;
};

export class ZipfianGenerator {
  private items: number;
  private zetaN: number;
  private eta: number;
  private readonly alpha: number;
  private readonly zeta2: number;

  /** `zetaN` may be given for item counts too large to sum (the scrambled generator's 10^10). */
  constructor(
    items: number,
    private readonly theta: number = ZIPFIAN_CONSTANT,
    zetaN?: number,
  ) {
    if (!(items >= 1)) throw new RangeError('a zipfian generator needs at least one item');
    if (!(theta > 0 && theta < 1)) throw new RangeError('the zipfian constant must be in (0, 1)');
    this.items = items;
    this.alpha = 1 / (1 - theta);
    this.zeta2 = zeta(0, 2, theta);
    this.zetaN = zetaN ?? zeta(0, items, theta);
    this.eta = this.etaFor(items);
  }

  private etaFor(n: number): number {
    return (1 - Math.pow(2 / n, 1 - this.theta)) / (1 - this.zeta2 / this.zetaN);
  }

  get itemCount(): number {
    return this.items;
  }

  /** A rank in [0, itemCount); with `items` larger than before, the distribution grows to cover them. */
  next(rng: Rng, items: number = this.items): number {
    if (items > this.items) {
      this.zetaN = zeta(this.items, items, this.theta, this.zetaN);
      this.items = items;
      this.eta = this.etaFor(items);
    }
    const u = rng.next();
    const uz = u * this.zetaN;
    if (uz < 1) return 0;
    if (uz < 1 + Math.pow(0.5, this.theta)) return 1;
    const r = Math.floor(this.items * Math.pow(this.eta * u - this.eta + 1, this.alpha));
    return r >= this.items ? this.items - 1 : r;
  }
}

/** A source of record numbers in [0, n). */
export interface KeyChooser {
  next(rng: Rng): number;
}

/** YCSB's item space and its precomputed ζ(10^10, 0.99): summing it at start-up would take minutes. */
const SCRAMBLED_ITEMS = 10_000_000_000;
const SCRAMBLED_ZETAN = 26.46902820178302;

/** Zipfian popularity, hashed over the records so hot keys are scattered. */
export const scrambledZipfian = (records: number, theta = ZIPFIAN_CONSTANT): KeyChooser => {
  const gen = theta === ZIPFIAN_CONSTANT ? new ZipfianGenerator(SCRAMBLED_ITEMS, theta, SCRAMBLED_ZETAN) : new ZipfianGenerator(records, theta);
  return { next: (rng) => fnvHash64Mod(gen.next(rng), records) };
};

export const uniform = (records: number): KeyChooser => ({ next: (rng) => rng.int(records) });

/**
 * Insert key numbers for workload D: handed out in order, and "acknowledged"
 * once the insert completed, so readers only pick records that exist.
 * `limit` is one past the highest key below which every insert is done.
 */
export class InsertCounter {
  private nextKey: number;
  private acked: number;
  private readonly done = new Set<number>();

  constructor(start: number) {
    this.nextKey = start;
    this.acked = start;
  }

  /** The next key number to insert. */
  take(): number {
    return this.nextKey++;
  }

  /** Marks an insert complete; the limit advances over every contiguous completed key. */
  acknowledge(key: number): void {
    this.done.add(key);
    while (this.done.delete(this.acked)) this.acked++;
  }

  get limit(): number {
    return this.acked;
  }
}

/** Newest records most popular: limit − 1 − zipfian rank over the records that exist now. */
export const latest = (counter: InsertCounter, theta = ZIPFIAN_CONSTANT): KeyChooser => {
  const gen = new ZipfianGenerator(Math.max(1, counter.limit), theta);
  return {
    next: (rng) => {
      const n = Math.max(1, counter.limit);
      return n - 1 - gen.next(rng, n);
    },
  };
};

export type Distribution = 'zipfian' | 'uniform' | 'latest';

export const chooser = (d: Distribution, records: number, counter: InsertCounter): KeyChooser => {
  switch (d) {
    case 'zipfian':
      return scrambledZipfian(records);
    case 'uniform':
      return uniform(records);
    case 'latest':
      return latest(counter);
  }
};

/**
 * The YCSB core workloads this driver runs, as data: operation proportions
 * and the key distribution. Workload E (short range scans) is left out on
 * purpose: ringkv partitions keys by hash, so a key range has no order to
 * scan (see bench/README.md).
 */
import type { Distribution } from './generators.js';
import type { Rng } from './random.js';

export type OpKind = 'read' | 'update' | 'insert' | 'rmw';

export const OP_KINDS: readonly OpKind[] = ['read', 'update', 'insert', 'rmw'];

export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Share of each operation; they sum to 1. */
  readonly mix: Readonly<Partial<Record<OpKind, number>>>;
  readonly distribution: Distribution;
}

export const WORKLOADS: Readonly<Record<string, Workload>> = {
  a: { name: 'a', description: 'update heavy: 50% read, 50% update', mix: { read: 0.5, update: 0.5 }, distribution: 'zipfian' },
  b: { name: 'b', description: 'read mostly: 95% read, 5% update', mix: { read: 0.95, update: 0.05 }, distribution: 'zipfian' },
  c: { name: 'c', description: 'read only', mix: { read: 1 }, distribution: 'zipfian' },
  d: { name: 'd', description: 'read latest: 95% read, 5% insert', mix: { read: 0.95, insert: 0.05 }, distribution: 'latest' },
  f: { name: 'f', description: 'read-modify-write: 50% read, 50% read-modify-write (SDK update)', mix: { read: 0.5, rmw: 0.5 }, distribution: 'zipfian' },
};

/** Why a workload name is refused, or undefined when it is known. */
export const invalidWorkload = (name: string): string | undefined => {
  if (name.toLowerCase() === 'e') return 'workload E (short range scans) is out of scope: ringkv partitions keys by hash, so there is no key order to scan';
  if (WORKLOADS[name.toLowerCase()] === undefined) return `unknown workload '${name}' (one of ${Object.keys(WORKLOADS).join(', ')})`;
  return undefined;
};

/** Draws the next operation kind with the workload's proportions (cumulative thresholds, one uniform draw). */
export const opChooser = (mix: Workload['mix']): ((rng: Rng) => OpKind) => {
  const kinds = OP_KINDS.filter((k) => (mix[k] ?? 0) > 0);
  const total = kinds.reduce((a, k) => a + mix[k]!, 0);
  if (kinds.length === 0 || !(Math.abs(total - 1) < 1e-9)) throw new RangeError('operation proportions must be positive and sum to 1');
  const thresholds: number[] = [];
  let acc = 0;
  for (const k of kinds) {
    acc += mix[k]!;
    thresholds.push(acc);
  }
  const last = kinds[kinds.length - 1]!;
  return (rng) => {
    const u = rng.next();
    for (let i = 0; i < kinds.length - 1; i++) if (u < thresholds[i]!) return kinds[i]!;
    return last;
  };
};

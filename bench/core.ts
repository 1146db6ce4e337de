// Micro-benchmarks of the pure core's hot paths: version merge, context
// codec, preference lists, key → partition, Merkle updates and comparisons,
// membership merge, phi. Every row is measured beside a baseline in the same
// run and reported as a ratio too (a ratio survives a noisy, shared machine;
// an absolute rate does not). A core module that is not there yet prints
// "missing" for its rows.
//
//   npm run bench:core [-- --ms 300]        writes bench/results/core.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as Merkle from '../src/core/merkle.js';
import * as Membership from '../src/core/membership.js';
import * as Phi from '../src/core/phi.js';

const msArg = process.argv.indexOf('--ms');
const runMs = msArg > 0 ? Number(process.argv[msArg + 1]) : 300;

let sink = 0; // every op returns a number that is consumed, so no work is optimised away

/** Operations per second of `op`, after a warm-up, over about `runMs`. */
const measure = (op: () => number): number => {
  for (let i = 0; i < 10_000; i++) sink += op();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < runMs) {
    for (let i = 0; i < 500; i++) sink += op();
    ops += 500;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
};

interface Row {
  readonly name: string;
  readonly opsPerSec: number | null;
  readonly baseline: string;
  readonly baselineOpsPerSec: number | null;
  /** opsPerSec / baselineOpsPerSec: > 1 means faster than the baseline. */
  readonly ratio: number | null;
  readonly note?: string;
}

const rows: Row[] = [];
const missing: string[] = [];

const row = (name: string, op: () => number, baseline: string, base: () => number, note?: string): void => {
  const opsPerSec = measure(op);
  const baselineOpsPerSec = measure(base);
  rows.push({ name, opsPerSec, baseline, baselineOpsPerSec, ratio: opsPerSec / baselineOpsPerSec, ...(note ? { note } : {}) });
};

const missingRow = (name: string, module: string, why: string): void => {
  missing.push(`${module}: ${why}`);
  rows.push({ name, opsPerSec: null, baseline: '', baselineOpsPerSec: null, ratio: null, note: `missing (${module}: ${why})` });
};

/** Loads an optional core module; undefined (and the reason recorded) when it is not there. */
const load = async <T>(path: string): Promise<T | undefined> => {
  try {
    return (await import(path)) as T;
  } catch (e) {
    missing.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
};

// ---------------------------------------------------------------- versions

type DvvsetModule = typeof import('../src/core/dvvset.js');
type CodecModule = typeof import('../src/core/context_codec.js');
const D = await load<DvvsetModule>('../src/core/dvvset.js');
const C = await load<CodecModule>('../src/core/context_codec.js');

if (D !== undefined && typeof D.sync === 'function' && typeof D.update === 'function') {
  // Two replicas' versions of a key, 3 entries each (N = 3 coordinators), diverged:
  // a has a newer write at n1, b a concurrent blind write at n3.
  const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
  let base: import('../src/core/dvvset.js').Clock<Uint8Array> = D.empty;
  for (const id of ['n1', 'n2', 'n3']) base = D.update(D.newWithContext(D.join(base), bytes(`v-${id}`)), id, base);
  const a = D.update(D.newWithContext(D.join(base), bytes('a')), 'n1', base);
  const b = D.update(D.newValue(bytes('b')), 'n3', base);
  // Baseline: a classic version-vector merge (max per id) of the same vectors, tracking no values.
  const vvA = new Map(D.join(a).map((e) => [e.id, e.counter] as const));
  const vvB = new Map(D.join(b).map((e) => [e.id, e.counter] as const));
  const vvMerge = (x: ReadonlyMap<string, number>, y: ReadonlyMap<string, number>): number => {
    const out = new Map(x);
    for (const [k, v] of y) if ((out.get(k) ?? 0) < v) out.set(k, v);
    return out.size;
  };
  row('version merge: dvvset sync of two 3-entry clocks', () => D.sync(a, b).length, 'Map version-vector merge', () => vvMerge(vvA, vvB));

  if (C !== undefined && typeof C.encodeContext === 'function' && typeof C.decodeContext === 'function') {
    const ctx = D.join(D.sync(a, b));
    const ctxBytes = C.encodeContext(ctx);
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const ctxJson = enc.encode(JSON.stringify(ctx));
    row('context encode (3 entries)', () => C.encodeContext(ctx).length, 'JSON.stringify + TextEncoder', () => enc.encode(JSON.stringify(ctx)).length);
    row(
      'context decode (3 entries)',
      () => (C.decodeContext(ctxBytes).ok ? 1 : 0),
      'TextDecoder + JSON.parse',
      () => (JSON.parse(dec.decode(ctxJson)) as unknown[]).length,
    );
  } else {
    missingRow('context encode (3 entries)', 'src/core/context_codec.ts', 'encodeContext not found');
    missingRow('context decode (3 entries)', 'src/core/context_codec.ts', 'decodeContext not found');
  }
} else {
  missingRow('version merge: dvvset sync of two 3-entry clocks', 'src/core/dvvset.ts', 'sync/update not found');
  missingRow('context encode (3 entries)', 'src/core/dvvset.ts', 'needed to build a context');
  missingRow('context decode (3 entries)', 'src/core/dvvset.ts', 'needed to build a context');
}

// ---------------------------------------------------------------- ring

type RingModule = typeof import('../src/core/ring.js');
type ClaimModule = typeof import('../src/core/claim.js');
const R = await load<RingModule>('../src/core/ring.js');
const K = await load<ClaimModule>('../src/core/claim.js');

// Key hashes as the shell hands them over: the top 32 bits of xxh3-64 (here a fixed pseudo-random table).
const hashes = new Uint32Array(4096);
{
  let x = 0x9e3779b9;
  for (let i = 0; i < hashes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    hashes[i] = x >>> 0;
  }
}

if (R !== undefined && K !== undefined && typeof R.preferenceList === 'function' && typeof K.claimInitial === 'function') {
  const qBits = 6;
  const ring = K.claimInitial(qBits, ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((id) => ({ id })));
  let i = 0;
  // Baseline: walking the owners array from p and collecting 3 distinct nodes, uncached.
  const walk = (p: number, n: number): number => {
    const out: string[] = [];
    for (let k = 0; k < ring.partitionCount && out.length < n; k++) {
      const o = ring.owners[(p + k) % ring.partitionCount]!;
      if (!out.includes(o)) out.push(o);
    }
    return out.length;
  };
  row(
    'preference-list lookup (Q=64, 6 nodes, N=3)',
    () => R.preferenceList(ring, R.partitionOfHash(ring, hashes[i++ & 4095]!), 3).length,
    'uncached ring walk for 3 distinct owners',
    () => walk(hashes[i++ & 4095]! >>> (32 - qBits), 3),
  );
  row(
    'key hash → partition (core, Q=64)',
    () => R.partitionOfHash(ring, hashes[i++ & 4095]!),
    'BigInt shift of a 64-bit hash',
    () => Number(((BigInt(hashes[i++ & 4095]!) << 32n) | 7n) >> BigInt(64 - qBits)),
  );
  // The whole path from key bytes, with the native hash, when the addon is built.
  try {
    const native = await import('../src/native/addon.js');
    const keys = Array.from({ length: 1024 }, (_, k) => new TextEncoder().encode(`user:${k}:cart`));
    const xx = (await import('xxhash-addon')).default;
    const bufs = keys.map((k) => Buffer.from(k));
    row(
      'key bytes → partition (native xxh3 hashHi32 + core)',
      () => R.partitionOfHash(ring, native.hashHi32(keys[i++ & 1023]!)),
      'xxhash-addon XXHash3 + BigInt shift',
      () => Number(Buffer.from(xx.XXHash3.hash(bufs[i++ & 1023]!)).readBigUInt64BE(0) >> BigInt(64 - qBits)),
    );
  } catch (e) {
    missingRow('key bytes → partition (native xxh3 hashHi32 + core)', 'src/native/addon.ts', (e as Error).message.split('\n')[0]!);
  }
} else {
  missingRow('preference-list lookup (Q=64, 6 nodes, N=3)', 'src/core/ring.ts / claim.ts', 'preferenceList/claimInitial not found');
  missingRow('key hash → partition (core, Q=64)', 'src/core/ring.ts', 'partitionOfHash not found');
}

// ---------------------------------------------------------------- merkle

{
  const tree = Merkle.empty();
  const shape = Merkle.defaultShape;
  const items = new Uint32Array(8192);
  for (let k = 0; k < items.length; k++) items[k] = hashes[k & 4095]! ^ Math.imul(k, 0x9e3779b1);
  let k = 0;
  // Baseline: the cheapest bookkeeping a write does anyway, one Map.set.
  const seen = new Map<number, number>();
  row(
    'Merkle leaf update (replace item hash, 32×32 tree)',
    () => {
      const j = k++ & 4095;
      const seg = Merkle.segmentOf(shape, 6, hashes[j]!, items[j]!);
      Merkle.replace(tree, seg, items[2 * j]!, items[2 * j + 1]!, items[(2 * j + 2) & 8191]!, items[(2 * j + 3) & 8191]!);
      return seg;
    },
    'Map.set of one number',
    () => {
      const j = k++ & 4095;
      seen.set(j, items[j]!);
      return j;
    },
  );
  // Comparison of two 100k-item trees that differ in one item, against scanning all 1024 leaves.
  const a = Merkle.empty();
  for (let j = 0; j < 100_000; j++) Merkle.toggle(a, j % 1024, Math.imul(j, 0x85ebca6b) >>> 0, Math.imul(j, 0xc2b2ae35) >>> 0);
  const b = Merkle.clone(a);
  Merkle.toggle(b, 517, 0xdeadbeef, 0x12345678);
  const leaves = a.levelStart[a.depth]!;
  row(
    'Merkle compare, 1 difference (walks 65 digests)',
    () => Merkle.compare(a, b).visited,
    'scan of all 1024 leaf digests',
    () => {
      let d = 0;
      for (let s = 0; s < 1024; s++) if (a.hi[leaves + s] !== b.hi[leaves + s] || a.lo[leaves + s] !== b.lo[leaves + s]) d++;
      return d;
    },
  );
}

// ---------------------------------------------------------------- membership

{
  const ids = Array.from({ length: 16 }, (_, j) => `node-${String(j).padStart(2, '0')}`);
  const a = Membership.fromEntries(ids.map((id, j) => ({ ...Membership.entry(id, `10.0.0.${j}:7400`, { status: 'up' }), heartbeat: 100 })));
  const b = Membership.bumpHeartbeat(a, 'node-07');
  const digestA = Membership.digest(a);
  row('membership merge, 16 nodes, 1 newer entry', () => Membership.merge(a, b).size, 'Map copy of 16 entries', () => new Map(a).size);
  row('membership delta against a digest, 16 nodes', () => Membership.delta(b, digestA).length, 'Map copy of 16 entries', () => new Map(a).size);
}

// ---------------------------------------------------------------- phi

{
  let s = Phi.init();
  for (let t = 0; t <= 1_000_000; t += 1000 + ((t / 1000) % 7) * 20) s = Phi.heartbeat(s, t);
  const last = s.lastHeartbeatMs!;
  let t = 0;
  // Baseline: the same phi with mean and variance recomputed from the 1000-sample window each time.
  const naive = (nowMs: number): number => {
    let sum = 0;
    let sq = 0;
    for (let j = 0; j < s.count; j++) {
      const x = s.intervals[j]!;
      sum += x;
      sq += x * x;
    }
    const m = sum / s.count;
    const sd = Math.max(Math.sqrt(Math.max(0, sq / s.count - m * m)), s.config.minStdDeviationMs);
    const y = (nowMs - last - m) / sd;
    const z = y * (1.5976 + 0.070566 * y * y);
    return Math.log1p(Math.exp(z)) / Math.LN10;
  };
  row('phi computation (1000-sample window)', () => Phi.phi(s, last + (t++ & 4095)), 'phi recomputing mean/variance from the window', () => naive(last + (t++ & 4095)));
  row('phi heartbeat (copies the 1000-sample window)', () => Phi.heartbeat(s, last + 1000 + (t++ & 1023)).count, 'phi computation', () => Phi.phi(s, last + (t++ & 4095)));
}

// ---------------------------------------------------------------- report

const fmt = (x: number | null): string => (x === null ? 'missing' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);
console.log(`ringkv bench:core  (node ${process.version}, ${runMs} ms per measurement)\n`);
console.log('| operation | ops/s | baseline | baseline ops/s | ratio |');
console.log('|---|---:|---|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.name} | ${fmt(r.opsPerSec)} | ${r.baseline || r.note} | ${fmt(r.baselineOpsPerSec)} | ${r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`} |`);
}
if (missing.length > 0) console.log(`\nmissing: ${missing.join('; ')}`);

const outDir = join(new URL('..', import.meta.url).pathname, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const result = { bench: 'core', date: new Date().toISOString(), node: process.version, runMs, rows, missing, sink: sink % 1000 };
writeFileSync(join(outDir, 'core.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote bench/results/core.json`);

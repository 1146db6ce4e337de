/**
 * npm run bench:storage [-- --keys 100000,1000000] [--quick] [--backends log,lmdb,memory]
 *
 * The storage backends side by side in one run (a ratio survives a noisy
 * shared machine, an absolute figure does not): 20-byte keys in random
 * order, 100-byte values, at each key count:
 *
 * - put, durability none, batches of 1000 (loads the partition), and the
 *   same with keys in ascending order
 * - put, durability none, one at a time (each awaited)
 * - put, durability always, 64 writers in flight (bounded in time)
 * - get hit: getSync; the engine's fast path into a reused buffer (log
 *   getInto, lmdb getBinaryFast); lmdb getBinary without our wrapper
 * - get miss: getSync
 * - fold over every key
 * - reopen: close the loaded partition, open it again (log rebuilds its
 *   keydir from hint files here)
 * - log only: keydir bytes per key beyond the key itself
 *
 * Prints one row per (keys, op, backend) with the ratio to lmdb, and writes
 * bench/results/storage.json and bench/results/storage.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '../src/storage/index.js';
import type { Durability, PartitionStore, StorageBackend } from '../src/storage/backend.js';
import { flag, intList } from './lib/args.js';
import { environment, markdownTable, textTable, writeResults, type Row } from './lib/report.js';
import { fmtRate, medianOf, nowNs, opsPerSec, timeAsyncBounded, timeConcurrent, timeSync, type Sample } from './lib/timing.js';

const quick = flag('quick') !== undefined;
const sizes = intList('keys', quick ? [20_000, 100_000] : [100_000, 1_000_000]);
const backendFlag = flag('backends');
const wanted = typeof backendFlag === 'string' ? backendFlag.split(',') : ['log', 'lmdb', 'memory'];

const KEY_BYTES = 20;
const VALUE_BYTES = 100;
const BATCH_OPS = 1000;
const LOOKUPS = quick ? 50_000 : 200_000;
const SINGLE_PUT_MAX_OPS = quick ? 20_000 : 100_000;
const SINGLE_PUT_MAX_MS = quick ? 500 : 2000;
const ALWAYS_WRITERS = 64;
const ALWAYS_MAX_OPS = 500_000;
const ALWAYS_MAX_MS = quick ? 1000 : 3000;

type Unit = 'ops/s' | 'ms' | 'B/key';

interface Result {
  readonly keys: number;
  readonly op: string;
  readonly backend: string;
  readonly value: number;
  readonly unit: Unit;
  readonly note?: string;
}

const results: Result[] = [];
const record = (r: Result): void => {
  results.push(r);
  const shown = r.unit === 'ops/s' ? `${fmtRate(r.value)} ops/s` : `${r.value.toFixed(r.unit === 'ms' ? 1 : 2)} ${r.unit}`;
  console.log(`  ${r.backend.padEnd(7)} ${r.op.padEnd(44)} ${shown}${r.note ? `  (${r.note})` : ''}`);
};

// Keys: 16 pseudo-random bytes then a 4-byte index, so they are unique,
// arrive in random order (as hashed keys do), and a "space" in the top bits
// keeps the hit, miss and always-write key sets disjoint. Seeded, so every
// backend sees the same keys.
const keyTable = (count: number, space: number, ascending = false): Buffer => {
  const table = Buffer.alloc(count * KEY_BYTES);
  let s = (0x9e3779b9 ^ (space * 0x85ebca6b)) >>> 0;
  for (let i = 0; i < count; i++) {
    const off = i * KEY_BYTES;
    const rand = ascending ? 4 : 0;
    for (let j = 0; j < 16; j += 4) {
      // xorshift32
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      table.writeUInt32LE(s, off + rand + j);
    }
    // Index last: random order; index first (big-endian): ascending order.
    table.writeUInt32BE(((space << 30) | i) >>> 0, ascending ? off : off + 16);
  }
  return table;
};

const keyAt = (table: Buffer, i: number): Buffer => table.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);

/** `count` keys picked at random (seeded) from the first `n` of `table`, as views. */
const lookupKeys = (table: Buffer, n: number, count: number): Buffer[] => {
  let s = 12345;
  return Array.from({ length: count }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return keyAt(table, s % n);
  });
};

const value = Buffer.alloc(VALUE_BYTES, 0x76);

const loadBatched = async (store: PartitionStore, table: Buffer, n: number): Promise<Sample> => {
  const started = nowNs();
  for (let at = 0; at < n; at += BATCH_OPS) {
    const end = Math.min(n, at + BATCH_OPS);
    const ops = [];
    for (let i = at; i < end; i++) ops.push({ type: 'put' as const, key: keyAt(table, i), value });
    await store.batch(ops);
  }
  return { ops: n, elapsedNs: nowNs() - started };
};

interface Engine {
  readonly name: string;
  make(dir: string, durability: Durability): Promise<StorageBackend>;
}

const engines: Engine[] = [];
const missing: string[] = [];
for (const name of wanted) {
  if (name === 'log') {
    try {
      await import('../src/storage/log.js');
    } catch (e) {
      missing.push(`log (src/storage/log.ts not loadable: ${(e as Error).message.split('\n')[0]})`);
      continue;
    }
  }
  engines.push({
    name,
    make: (dir, durability) => createBackend(name, { dir, durability }),
  });
}

const root = mkdtempSync(join(tmpdir(), 'ringkv-bench-storage-'));
let cleaned = false;
const cleanup = (): void => {
  if (cleaned) return;
  cleaned = true;
  rmSync(root, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

console.log(
  `ringkv bench:storage — keys ${sizes.join(', ')}; ${KEY_BYTES} B keys, ${VALUE_BYTES} B values; backends ${engines
    .map((e) => e.name)
    .join(', ')}${quick ? ' (quick)' : ''}`,
);
if (missing.length > 0) console.log(`missing: ${missing.join('; ')}`);
console.log(`data under ${root}`);

const benchStarted = nowNs();
let sink = 0;

for (const n of sizes) {
  const hitTable = keyTable(n, 0);
  const missTable = keyTable(LOOKUPS, 1);
  const writeTable = keyTable(Math.max(SINGLE_PUT_MAX_OPS, ALWAYS_MAX_OPS), 2);
  const hits = lookupKeys(hitTable, n, LOOKUPS);
  const misses = lookupKeys(missTable, LOOKUPS, LOOKUPS);

  for (const engine of engines) {
    console.log(`\n${n} keys, ${engine.name}`);
    const dir = join(root, `${engine.name}-${n}`);
    const backend = await engine.make(dir, 'none');
    const supportsAlways = backend.capabilities.durability.includes('always');
    try {
      // Warm-up: JIT the write and read paths on a scratch partition.
      const scratch = await backend.open(9);
      await loadBatched(scratch, writeTable, 20_000);
      for (let i = 0; i < 20_000; i++) sink ^= scratch.getSync?.(keyAt(writeTable, i))?.length ?? 0;
      await backend.drop(9);

      const store = await backend.open(0);
      record({ keys: n, op: `put none, batches of ${BATCH_OPS}`, backend: engine.name, value: opsPerSec(await loadBatched(store, hitTable, n)), unit: 'ops/s' });
      if (store.count() !== n) throw new Error(`${engine.name}: loaded ${store.count()} keys, expected ${n}`);

      // The same load in ascending key order: B-trees (lmdb) write far fewer
      // pages per transaction this way; a log does not care.
      const ascendingTable = keyTable(n, 3, true);
      const sorted = await backend.open(3);
      record({
        keys: n,
        op: `put none, batches of ${BATCH_OPS}, ascending keys`,
        backend: engine.name,
        value: opsPerSec(await loadBatched(sorted, ascendingTable, n)),
        unit: 'ops/s',
      });
      await backend.drop(3);

      const single = await backend.open(1);
      const singleSample = await timeAsyncBounded(SINGLE_PUT_MAX_OPS, SINGLE_PUT_MAX_MS, (i) => single.put(keyAt(writeTable, i), value));
      record({ keys: n, op: 'put none, one at a time', backend: engine.name, value: opsPerSec(singleSample), unit: 'ops/s', note: `${singleSample.ops} puts` });
      await backend.drop(1);

      const getSync = store.getSync?.bind(store);
      if (getSync) {
        const probe = getSync(hits[0] as Buffer);
        if (probe?.length !== VALUE_BYTES) throw new Error(`${engine.name}: a loaded key read back as ${probe?.length} bytes`);
        record({
          keys: n,
          op: 'get hit, getSync (returns a copy)',
          backend: engine.name,
          value: opsPerSec(medianOf(3, 1, () => timeSync(LOOKUPS, (i) => (sink ^= getSync(hits[i] as Buffer)?.length ?? 0)))),
          unit: 'ops/s',
        });
      }

      // The engines' zero-allocation read paths, found by shape, not by name.
      const getInto = (store as { getInto?: (k: Uint8Array, out: Uint8Array) => number }).getInto?.bind(store);
      const lmdbDb = (store as { db?: { getBinaryFast(k: Buffer): Buffer | undefined; getBinary(k: Buffer): Buffer | undefined } }).db;
      if (getInto) {
        const out = Buffer.alloc(4096);
        if (getInto(hits[0] as Buffer, out) !== VALUE_BYTES) throw new Error('log getInto: wrong length');
        record({
          keys: n,
          op: 'get hit, fast path into a reused buffer',
          backend: engine.name,
          value: opsPerSec(medianOf(3, 1, () => timeSync(LOOKUPS, (i) => (sink ^= getInto(hits[i] as Buffer, out))))),
          unit: 'ops/s',
          note: 'getInto',
        });
      }
      if (lmdbDb) {
        record({
          keys: n,
          op: 'get hit, fast path into a reused buffer',
          backend: engine.name,
          value: opsPerSec(medianOf(3, 1, () => timeSync(LOOKUPS, (i) => (sink ^= lmdbDb.getBinaryFast(hits[i] as Buffer)?.length ?? 0)))),
          unit: 'ops/s',
          note: 'getBinaryFast',
        });
        record({
          keys: n,
          op: 'get hit, lmdb getBinary (no wrapper)',
          backend: engine.name,
          value: opsPerSec(medianOf(3, 1, () => timeSync(LOOKUPS, (i) => (sink ^= lmdbDb.getBinary(hits[i] as Buffer)?.length ?? 0)))),
          unit: 'ops/s',
        });
      }
      if (getSync) {
        record({
          keys: n,
          op: 'get miss, getSync',
          backend: engine.name,
          value: opsPerSec(medianOf(3, 1, () => timeSync(LOOKUPS, (i) => (sink ^= getSync(misses[i] as Buffer) === undefined ? 0 : 1)))),
          unit: 'ops/s',
        });
      }

      const foldStarted = nowNs();
      let folded = 0;
      const visited = await store.fold((_k, v) => {
        folded += v.length;
      });
      const foldSample = { ops: visited, elapsedNs: nowNs() - foldStarted };
      if (visited !== n || folded !== n * VALUE_BYTES) throw new Error(`${engine.name}: fold visited ${visited} keys, ${folded} value bytes`);
      record({ keys: n, op: 'fold over all keys', backend: engine.name, value: opsPerSec(foldSample), unit: 'ops/s' });

      const keydirBytes = store.stats().extra?.['keydirBytes'];
      if (keydirBytes !== undefined) {
        record({ keys: n, op: 'keydir bytes per key beyond the key', backend: engine.name, value: keydirBytes / n - KEY_BYTES, unit: 'B/key', note: `${keydirBytes} B total` });
      }

      await store.close();
      const reopenStarted = nowNs();
      const reopened = await backend.open(0);
      const count = reopened.count();
      const reopenMs = (nowNs() - reopenStarted) / 1e6;
      if (count !== n) throw new Error(`${engine.name}: ${count} keys after reopen, expected ${n}`);
      record({ keys: n, op: 'reopen: close + open the loaded partition', backend: engine.name, value: reopenMs, unit: 'ms' });
    } finally {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }

    if (!supportsAlways) {
      record({ keys: n, op: `put always, ${ALWAYS_WRITERS} in flight`, backend: engine.name, value: NaN, unit: 'ops/s', note: 'durability always not supported' });
      continue;
    }
    const alwaysDir = join(root, `${engine.name}-${n}-always`);
    const durable = await engine.make(alwaysDir, 'always');
    try {
      const p = await durable.open(2);
      // Pre-load the partition to n keys so the file sizes match the row's key count.
      await loadBatched(p, hitTable, n);
      const s = await timeConcurrent(ALWAYS_WRITERS, ALWAYS_MAX_OPS, ALWAYS_MAX_MS, (i) => p.put(keyAt(writeTable, i), value));
      record({ keys: n, op: `put always, ${ALWAYS_WRITERS} in flight`, backend: engine.name, value: opsPerSec(s), unit: 'ops/s', note: `${s.ops} puts` });
    } finally {
      await durable.close();
      rmSync(alwaysDir, { recursive: true, force: true });
    }
  }
}

// One row per (keys, op, backend); ratio to lmdb's row for the same (keys, op).
const ratio = (r: Result): string => {
  if (r.unit === 'B/key' || !Number.isFinite(r.value)) return '-';
  const base = results.find((x) => x.keys === r.keys && x.op === r.op && x.backend === 'lmdb');
  if (base === undefined || !Number.isFinite(base.value)) return '-';
  // Always "how many times lmdb's speed": for times, smaller is faster.
  const x = r.unit === 'ms' ? base.value / r.value : r.value / base.value;
  return `${x.toFixed(2)}x`;
};
const header: Row = ['keys', 'op', 'backend', 'result', 'unit', 'vs lmdb (>1 = faster)', 'note'];
const rows: Row[] = results.map((r) => [
  r.keys,
  r.op,
  r.backend,
  !Number.isFinite(r.value) ? 'n/a' : r.unit === 'ops/s' ? Math.round(r.value) : Number(r.value.toFixed(2)),
  r.unit,
  ratio(r),
  r.note ?? '',
]);

const totalS = (nowNs() - benchStarted) / 1e9;
console.log(`\n${textTable(header, rows)}\n`);
console.log(`total ${totalS.toFixed(1)} s${missing.length ? `; missing: ${missing.join('; ')}` : ''}`);
const md = [
  `# bench:storage (${new Date().toISOString()}, node ${process.version}${quick ? ', quick' : ''})`,
  '',
  `${KEY_BYTES}-byte keys in random order, ${VALUE_BYTES}-byte values. "vs lmdb" is speed relative to lmdb in the same run.`,
  missing.length ? `\nMissing: ${missing.join('; ')}\n` : '',
  markdownTable(header, rows),
].join('\n');
const paths = writeResults(
  'storage',
  { environment: environment(), quick, sizes, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, missing, totalSeconds: totalS, results },
  md,
);
console.log(`wrote ${paths.join(', ')}${sink === 0.5 ? '' : ''}`);
cleanup();

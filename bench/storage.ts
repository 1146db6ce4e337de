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

/**
 * Samples of one (op, backend), gathered over interleaved rounds and
 * reduced to one figure at the end: the backends take turns, so a burst of
 * load from a neighbour lands on all of them rather than on one.
 */
class Rounds {
  readonly #samples = new Map<string, Sample[]>();
  add(backend: string, op: string, s: Sample): void {
    const k = `${backend}\u0000${op}`;
    this.#samples.set(k, [...(this.#samples.get(k) ?? []), s]);
  }
  /** Median ops/s of the rounds. */
  median(backend: string, op: string): number {
    const rates = (this.#samples.get(`${backend}\u0000${op}`) ?? []).map(opsPerSec).sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)] ?? NaN;
  }
  /** Ops/s over all rounds together (for time-sliced runs). */
  pooled(backend: string, op: string): Sample {
    const all = this.#samples.get(`${backend}\u0000${op}`) ?? [];
    return { ops: all.reduce((a, s) => a + s.ops, 0), elapsedNs: all.reduce((a, s) => a + s.elapsedNs, 0) };
  }
}

/** Runs `body` once per engine per round, rotating who goes first. */
const interleave = async (rounds: number, live: readonly Live[], body: (l: Live) => Promise<void>): Promise<void> => {
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < live.length; j++) await body(live[(r + j) % live.length] as Live);
  }
};

interface Live {
  readonly engine: Engine;
  readonly dir: string;
  backend: StorageBackend;
  store: PartitionStore;
}

const READ_ROUNDS = quick ? 3 : 5;
const SLICES = quick ? 2 : 4;

for (const n of sizes) {
  const hitTable = keyTable(n, 0);
  const missTable = keyTable(LOOKUPS, 1);
  const writeTable = keyTable(Math.max(SINGLE_PUT_MAX_OPS, ALWAYS_MAX_OPS) * 2, 2);
  const hits = lookupKeys(hitTable, n, LOOKUPS);
  const misses = lookupKeys(missTable, LOOKUPS, LOOKUPS);
  const rounds = new Rounds();
  const live: Live[] = [];
  console.log(`\n${n} keys`);

  try {
    // Loading is one pass per backend, so it cannot take turns.
    for (const engine of engines) {
      const dir = join(root, `${engine.name}-${n}`);
      const backend = await engine.make(dir, 'none');
      // Warm-up: JIT the write and read paths on a scratch partition.
      const scratch = await backend.open(9);
      await loadBatched(scratch, writeTable, 20_000);
      for (let i = 0; i < 20_000; i++) sink ^= scratch.getSync?.(keyAt(writeTable, i))?.length ?? 0;
      await backend.drop(9);

      const store = await backend.open(0);
      live.push({ engine, dir, backend, store });
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
    }

    // One-at-a-time puts, in time slices that take turns.
    let nextWrite = 0;
    await interleave(SLICES, live, async (l) => {
      const single = await l.backend.open(1);
      const from = nextWrite;
      const s = await timeAsyncBounded(SINGLE_PUT_MAX_OPS / SLICES, SINGLE_PUT_MAX_MS / SLICES, (i) => single.put(keyAt(writeTable, from + i), value));
      nextWrite += s.ops;
      rounds.add(l.engine.name, 'single', s);
    });
    for (const l of live) {
      const s = rounds.pooled(l.engine.name, 'single');
      record({ keys: n, op: 'put none, one at a time', backend: l.engine.name, value: opsPerSec(s), unit: 'ops/s', note: `${s.ops} puts` });
      await l.backend.drop(1);
    }

    // Reads, interleaved round by round.
    for (const l of live) {
      const probe = l.store.getSync?.(hits[0] as Buffer);
      if (probe !== undefined && probe.length !== VALUE_BYTES) throw new Error(`${l.engine.name}: a loaded key read back as ${probe.length} bytes`);
    }
    await interleave(READ_ROUNDS + 1, live, async (l) => {
      const name = l.engine.name;
      const getSync = l.store.getSync?.bind(l.store);
      if (getSync) {
        rounds.add(name, 'hit', timeSync(LOOKUPS, (i) => (sink ^= getSync(hits[i] as Buffer)?.length ?? 0)));
        rounds.add(name, 'miss', timeSync(LOOKUPS, (i) => (sink ^= getSync(misses[i] as Buffer) === undefined ? 0 : 1)));
      }
      // The engines' zero-allocation read paths, found by shape, not by name.
      const getInto = (l.store as { getInto?: (k: Uint8Array, out: Uint8Array) => number }).getInto?.bind(l.store);
      if (getInto) {
        const out = Buffer.alloc(4096);
        rounds.add(name, 'fast', timeSync(LOOKUPS, (i) => (sink ^= getInto(hits[i] as Buffer, out))));
      }
      const db = (l.store as { db?: { getBinaryFast(k: Buffer): Buffer | undefined; getBinary(k: Buffer): Buffer | undefined } }).db;
      if (db) {
        rounds.add(name, 'fast', timeSync(LOOKUPS, (i) => (sink ^= db.getBinaryFast(hits[i] as Buffer)?.length ?? 0)));
        rounds.add(name, 'raw', timeSync(LOOKUPS, (i) => (sink ^= db.getBinary(hits[i] as Buffer)?.length ?? 0)));
      }
    });
    for (const l of live) {
      const name = l.engine.name;
      const fastNote = (l.store as { getInto?: unknown }).getInto ? 'getInto' : 'getBinaryFast';
      const rows: Array<[string, string, string?]> = [
        ['hit', 'get hit, getSync (returns a copy)'],
        ['fast', 'get hit, fast path into a reused buffer', fastNote],
        ['raw', 'get hit, lmdb getBinary (no wrapper)'],
        ['miss', 'get miss, getSync'],
      ];
      for (const [key, op, note] of rows) {
        const v = rounds.median(name, key);
        if (Number.isFinite(v)) record({ keys: n, op, backend: name, value: v, unit: 'ops/s', ...(note ? { note } : {}) });
      }
    }

    for (const l of live) {
      const foldStarted = nowNs();
      let folded = 0;
      const visited = await l.store.fold((_k, v) => {
        folded += v.length;
      });
      const foldSample = { ops: visited, elapsedNs: nowNs() - foldStarted };
      if (visited !== n || folded !== n * VALUE_BYTES) throw new Error(`${l.engine.name}: fold visited ${visited} keys, ${folded} value bytes`);
      record({ keys: n, op: 'fold over all keys', backend: l.engine.name, value: opsPerSec(foldSample), unit: 'ops/s' });

      const keydirBytes = l.store.stats().extra?.['keydirBytes'];
      if (keydirBytes !== undefined) {
        record({ keys: n, op: 'keydir bytes per key beyond the key', backend: l.engine.name, value: keydirBytes / n - KEY_BYTES, unit: 'B/key', note: `${keydirBytes} B total` });
      }

      await l.store.close();
      const reopenStarted = nowNs();
      l.store = await l.backend.open(0);
      const count = l.store.count();
      const reopenMs = (nowNs() - reopenStarted) / 1e6;
      if (count !== n) throw new Error(`${l.engine.name}: ${count} keys after reopen, expected ${n}`);
      record({ keys: n, op: 'reopen: close + open the loaded partition', backend: l.engine.name, value: reopenMs, unit: 'ms' });
    }

    // Durable writes: reopen the same directories (already holding n keys)
    // with durability always, and let the backends take turns in time slices.
    const durable: Live[] = [];
    for (const l of live) {
      const persistent = l.backend.capabilities.persistent && l.backend.capabilities.durability.includes('always');
      await l.backend.close();
      if (!persistent) {
        record({ keys: n, op: `put always, ${ALWAYS_WRITERS} in flight`, backend: l.engine.name, value: NaN, unit: 'ops/s', note: 'durability always not supported' });
        continue;
      }
      const backend = await l.engine.make(l.dir, 'always');
      durable.push({ ...l, backend, store: await backend.open(0) });
    }
    let nextDurable = 0;
    await interleave(SLICES, durable, async (l) => {
      const from = nextDurable;
      const s = await timeConcurrent(ALWAYS_WRITERS, ALWAYS_MAX_OPS / SLICES, ALWAYS_MAX_MS / SLICES, (i) => l.store.put(keyAt(writeTable, from + i), value));
      nextDurable += s.ops + ALWAYS_WRITERS;
      rounds.add(l.engine.name, 'always', s);
    });
    for (const l of durable) {
      const s = rounds.pooled(l.engine.name, 'always');
      record({ keys: n, op: `put always, ${ALWAYS_WRITERS} in flight`, backend: l.engine.name, value: opsPerSec(s), unit: 'ops/s', note: `${s.ops} puts` });
      await l.backend.close();
    }
  } finally {
    for (const l of live) {
      await l.backend.close();
      rmSync(l.dir, { recursive: true, force: true });
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
// Group the rows by (keys, op) so the backends sit next to each other.
const opOrder = [...new Set(results.map((r) => r.op))];
const engineOrder = engines.map((e) => e.name);
const ordered = [...results].sort(
  (a, b) => a.keys - b.keys || opOrder.indexOf(a.op) - opOrder.indexOf(b.op) || engineOrder.indexOf(a.backend) - engineOrder.indexOf(b.backend),
);
const rows: Row[] = ordered.map((r) => [
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

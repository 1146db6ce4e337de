/**
 * npm run bench:hash [-- --quick]
 *
 * ns per key for xxh3-64 of 20-byte keys through each native entry point,
 * against xxhash-addon's XXHash3.hash called from JS per key (the baseline,
 * measured in the same run); and CRC32C throughput, SSE4.2 against the
 * portable table. Prints a table, writes bench/results/hash.json.
 */
import { randomFillSync } from 'node:crypto';
import xxhash from 'xxhash-addon';
import { addon, hashHi32 } from '../src/native/addon.js';
import { flag } from './lib/args.js';
import { environment, markdownTable, textTable, writeResults, type Row } from './lib/report.js';
import { nsPerOp, timeSync, type Sample } from './lib/timing.js';

const { XXHash3 } = xxhash;

const quick = flag('quick') !== undefined;
const KEY_BYTES = 20;
const BATCH_KEYS = 4096;
const nKeys = quick ? 16 * BATCH_KEYS : 64 * BATCH_KEYS;
const rounds = quick ? 3 : 7;

// All keys in one buffer (what hashBatch takes) and as separate Buffers
// (what the per-key calls take), made before any timing.
const all = randomFillSync(Buffer.alloc(nKeys * KEY_BYTES));
const keys: Buffer[] = Array.from({ length: nKeys }, (_, i) => all.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES));
const chunkOffsets = new Uint32Array(BATCH_KEYS + 1);
for (let i = 0; i <= BATCH_KEYS; i++) chunkOffsets[i] = i * KEY_BYTES;
const chunks: Buffer[] = [];
for (let c = 0; c < nKeys / BATCH_KEYS; c++) chunks.push(all.subarray(c * BATCH_KEYS * KEY_BYTES, (c + 1) * BATCH_KEYS * KEY_BYTES));
const batchOut = Buffer.alloc(BATCH_KEYS * 8);
const out8 = Buffer.alloc(8);

// Consumed after timing so no call can be optimised away.
let sink = 0;

const perKeyRound = (body: (k: Buffer) => void) => (): Sample =>
  timeSync(nKeys, (i) => {
    body(keys[i] as Buffer);
  });

// Each round times every variant once, in turn, and each variant keeps its
// median round: a burst of load from a neighbour then hits all variants
// alike instead of deciding one of them.
const variants: ReadonlyArray<readonly [string, () => Sample]> = [
  ['xxhash-addon XXHash3.hash per key (baseline)', perKeyRound((k) => (sink ^= (XXHash3.hash(k) as Buffer)[0] as number))],
  ['native hashHi32 (validated wrapper)', perKeyRound((k) => (sink ^= hashHi32(k)))],
  ['native addon.hashHi32 (raw)', perKeyRound((k) => (sink ^= addon.hashHi32(k)))],
  [
    'native addon.hashInto, reused 8-byte buffer',
    perKeyRound((k) => {
      addon.hashInto(k, out8, 0);
      sink ^= out8[0] as number;
    }),
  ],
  [
    `native addon.hashBatch, ${BATCH_KEYS} keys per call`,
    () => {
      const s = timeSync(chunks.length, (c) => {
        addon.hashBatch(chunks[c] as Buffer, chunkOffsets, batchOut);
        sink ^= batchOut[0] as number;
      });
      return { ops: s.ops * BATCH_KEYS, elapsedNs: s.elapsedNs };
    },
  ],
];

interface HashRow {
  readonly name: string;
  readonly nsPerKey: number;
}

const interleavedMedians = (list: ReadonlyArray<readonly [string, () => Sample]>): HashRow[] => {
  for (let w = 0; w < 2; w++) for (const [, run] of list) run(); // warm-up
  const samples = list.map((): number[] => []);
  for (let r = 0; r < rounds; r++) list.forEach(([, run], i) => samples[i]?.push(nsPerOp(run())));
  return list.map(([name], i) => {
    const sorted = [...(samples[i] ?? [])].sort((a, b) => a - b);
    return { name, nsPerKey: sorted[Math.floor(sorted.length / 2)] ?? NaN };
  });
};

const hashRows = interleavedMedians(variants);
const baselineNs = hashRows[0]?.nsPerKey ?? NaN;

interface CrcRow {
  readonly impl: string;
  readonly bufferBytes: number;
  readonly mbPerSec: number;
}

const crcRows: CrcRow[] = [];
const totalCrcBytes = quick ? 16 << 20 : 64 << 20;
for (const bufferBytes of [100, 4096]) {
  const n = Math.floor(totalCrcBytes / bufferBytes);
  const pool = randomFillSync(Buffer.alloc(Math.min(n, 4096) * bufferBytes));
  const bufs = Array.from({ length: Math.min(n, 4096) }, (_, i) => pool.subarray(i * bufferBytes, (i + 1) * bufferBytes));
  const impls = [
    [`native crc32c (${addon.crc32cImpl()})`, addon.crc32c],
    ['native crc32cPortable (slicing-by-8)', addon.crc32cPortable],
  ] as const;
  const rows = interleavedMedians(impls.map(([impl, fn]) => [impl, () => timeSync(n, (i) => (sink ^= fn(bufs[i % bufs.length] as Buffer, 0)))] as const));
  for (const r of rows) crcRows.push({ impl: r.name, bufferBytes, mbPerSec: bufferBytes / r.nsPerKey / 1e-3 });
}

const hashHeader: Row = ['xxh3-64 of 20-byte keys', 'ns/key', 'keys/s', 'speed vs xxhash-addon'];
const hashTable: Row[] = hashRows.map((r) => [
  r.name,
  r.nsPerKey,
  `${(1e3 / r.nsPerKey).toFixed(1)}M`,
  `${(baselineNs / r.nsPerKey).toFixed(2)}x`,
]);
const crcHeader: Row = ['crc32c', 'buffer', 'MB/s', 'vs portable'];
const crcTable: Row[] = crcRows.map((r) => {
  const portable = crcRows.find((p) => p.bufferBytes === r.bufferBytes && p.impl.includes('Portable'));
  return [r.impl, `${r.bufferBytes} B`, Math.round(r.mbPerSec), `${(r.mbPerSec / (portable?.mbPerSec ?? NaN)).toFixed(2)}x`];
});

console.log(`ringkv bench:hash — ${nKeys} keys, median of ${rounds} interleaved rounds${quick ? ' (quick)' : ''}\n`);
console.log(textTable(hashHeader, hashTable));
console.log();
console.log(textTable(crcHeader, crcTable));

const md = [
  `# bench:hash (${new Date().toISOString()}, node ${process.version})`,
  '',
  markdownTable(hashHeader, hashTable),
  '',
  markdownTable(crcHeader, crcTable),
].join('\n');
const paths = writeResults('hash', { environment: environment(), quick, nKeys, rounds, keyBytes: KEY_BYTES, hash: hashRows, crc32c: crcRows }, md);
console.log(`\nwrote ${paths.join(', ')}${sink === 0.5 ? '' : ''}`);

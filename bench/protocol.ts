/**
 * Protocol codec throughput: encode and decode frames/s for GET, PUT (20-byte
 * key, 100-byte value) and GET_REPLY (one 100-byte sibling, 16-byte context),
 * side by side with a JSON codec of the same messages measured in the same
 * run (the ratio holds on a noisy machine; the absolute numbers do not).
 *
 *   npm run bench:protocol [-- --ms 1000 --batch 1024]
 *
 * Writes bench/results/protocol.json and bench/results/protocol.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { FrameDecoder, FrameWriter, decodeMessage, encode, messageFromJson, messageToJson, type Message } from '../protocol/index.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const budgetMs = arg('ms', 1000);
const batch = arg('batch', 1024);

const fill = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const key = fill(20, 1);
const value = fill(100, 2);
const context = fill(16, 3);

const cases: readonly { readonly name: string; readonly make: (streamId: number) => Message }[] = [
  { name: 'GET', make: (streamId) => ({ op: 'GET', streamId, key, r: 0, timeoutMs: 0 }) },
  { name: 'PUT', make: (streamId) => ({ op: 'PUT', streamId, key, value, context, w: 0, timeoutMs: 0 }) },
  {
    name: 'GET_REPLY',
    make: (streamId) => ({ op: 'GET_REPLY', streamId, found: true, context, siblings: [{ value, tombstone: false }] }),
  },
];

/** Runs `round` (which handles `perRound` frames) until the budget is spent; returns frames/s. */
const rate = (perRound: number, round: () => void): number => {
  for (let i = 0; i < 20; i++) round(); // warm up the JIT
  let frames = 0;
  const start = process.hrtime.bigint();
  const stop = start + BigInt(budgetMs) * 1_000_000n;
  let now = start;
  while (now < stop) {
    for (let i = 0; i < 8; i++) round();
    frames += 8 * perRound;
    now = process.hrtime.bigint();
  }
  return frames / (Number(now - start) / 1e9);
};

let sink = 0;

interface Row {
  readonly message: string;
  readonly encodeFramesPerSec: number;
  readonly writerFramesPerSec: number;
  readonly decodeFramesPerSec: number;
  readonly jsonEncodeFramesPerSec: number;
  readonly jsonDecodeFramesPerSec: number;
  readonly frameBytes: number;
}

const rows: Row[] = [];
for (const c of cases) {
  const messages = Array.from({ length: batch }, (_, i) => c.make(i + 1));
  const frameBytes = encode(messages[0]!).length;

  // encode(): one allocation per frame.
  const encodeRate = rate(batch, () => {
    for (const m of messages) sink += encode(m).length;
  });

  // FrameWriter: frames appended into one slab, one take() per batch (one socket.write).
  const writer = new FrameWriter({ slabBytes: 256 * 1024 });
  const writerRate = rate(batch, () => {
    for (const m of messages) writer.write(m);
    sink += writer.take().length;
  });

  // Decode: a batch in 64 KiB chunks through FrameDecoder, then decodeMessage per frame.
  for (const m of messages) writer.write(m);
  const stream = writer.take();
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += 65536) chunks.push(stream.subarray(at, at + 65536));
  const decoder = new FrameDecoder();
  const decodeRate = rate(batch, () => {
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        const r = decodeMessage(f);
        if (E.isRight(r)) sink += r.right.streamId;
      }
    }
  });

  // Baseline: the same messages as JSON text (hex bytes), newline-delimited.
  const jsonEncodeRate = rate(batch, () => {
    for (const m of messages) sink += Buffer.from(JSON.stringify(messageToJson(m))).length;
  });
  const jsonLines = messages.map((m) => Buffer.from(JSON.stringify(messageToJson(m))));
  const jsonDecodeRate = rate(batch, () => {
    for (const line of jsonLines) sink += messageFromJson(JSON.parse(line.toString()) as Record<string, unknown>).streamId;
  });

  rows.push({
    message: c.name,
    encodeFramesPerSec: Math.round(encodeRate),
    writerFramesPerSec: Math.round(writerRate),
    decodeFramesPerSec: Math.round(decodeRate),
    jsonEncodeFramesPerSec: Math.round(jsonEncodeRate),
    jsonDecodeFramesPerSec: Math.round(jsonDecodeRate),
    frameBytes,
  });
}

const m = (n: number): string => `${(n / 1e6).toFixed(2)}M`;
const x = (a: number, b: number): string => `${(a / b).toFixed(1)}x`;
const table = [
  `protocol codec, frames/s (budget ${budgetMs} ms per cell, batch ${batch}, node ${process.version})`,
  '',
  '| message | bytes | encode() | FrameWriter | decode | JSON encode | JSON decode | writer/JSON | decode/JSON |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.message} | ${r.frameBytes} | ${m(r.encodeFramesPerSec)} | ${m(r.writerFramesPerSec)} | ${m(r.decodeFramesPerSec)} | ` +
      `${m(r.jsonEncodeFramesPerSec)} | ${m(r.jsonDecodeFramesPerSec)} | ${x(r.writerFramesPerSec, r.jsonEncodeFramesPerSec)} | ` +
      `${x(r.decodeFramesPerSec, r.jsonDecodeFramesPerSec)} |`,
  ),
].join('\n');
console.log(table);
const target = 1e6;
const slow = rows.filter((r) => r.writerFramesPerSec < target || r.decodeFramesPerSec < target).map((r) => r.message);
console.log(slow.length === 0 ? 'target >= 1M frames/s encode (FrameWriter) and decode: met' : `below 1M frames/s: ${slow.join(', ')}`);

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/protocol.json', import.meta.url), JSON.stringify({ budgetMs, batch, node: process.version, rows }, null, 2) + '\n');
writeFileSync(new URL('./results/protocol.md', import.meta.url), table + '\n');
if (sink === -1) console.log(sink);

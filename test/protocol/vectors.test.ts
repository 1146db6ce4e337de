import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../../src/errors.js';
import {
  FrameDecoder,
  NO_LIMITS,
  decodeFrame,
  decodeMessage,
  encode,
  fromHex,
  messageFromJson,
  messageToJson,
  toHex,
  type Frame,
} from '../../protocol/index.js';
import { renderVectors, type InvalidVectorFile, type VectorFile } from '../../protocol/gen_vectors.js';

const dir = new URL('../../protocol/vectors/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const read = (f: string): string => readFileSync(new URL(f, dir), 'utf8');
const valid = files.filter((f) => f !== 'invalid.json').flatMap((f) => (JSON.parse(read(f)) as VectorFile).vectors.map((v) => ({ file: f, ...v })));
const invalid = (JSON.parse(read('invalid.json')) as InvalidVectorFile).invalid;

const drain = (d: FrameDecoder, into: string[]): void => {
  for (let f = d.next(); f !== undefined; f = d.next()) into.push(toHex(f.bytes));
};

test('the vectors cover every message type', () => {
  const ops = new Set(valid.map((v) => v.message['op']));
  for (const op of ['HELLO', 'HELLO_OK', 'ERROR', 'PING', 'PONG', 'GET', 'GET_REPLY', 'PUT', 'PUT_REPLY', 'DELETE', 'DELETE_REPLY', 'STATS', 'STATS_REPLY', 'RING', 'RING_REPLY', 'NODE']) {
    assert.ok(ops.has(op), op);
  }
  assert.ok(valid.length >= 30);
  assert.ok(invalid.length >= 15);
});

test('encoding each vector message gives exactly its frame', () => {
  for (const v of valid) assert.is(toHex(encode(messageFromJson(v.message))), v.frame, `${v.file} ${v.name}`);
});

test('decoding each vector frame gives exactly its message', () => {
  for (const v of valid) {
    const r = E.chain((f: Frame) => decodeMessage(f, NO_LIMITS))(decodeFrame(fromHex(v.frame)));
    assert.ok(E.isRight(r), `${v.name}: ${E.isLeft(r) ? r.left.message : ''}`);
    if (E.isRight(r)) assert.equal(messageToJson(r.right), v.message, v.name);
  }
});

test('each vector decodes the same fed one byte at a time and split at every point', () => {
  for (const v of valid) {
    const bytes = fromHex(v.frame);
    const d = new FrameDecoder({ maxFrameBytes: NO_LIMITS.maxFrameBytes });
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      d.push(bytes.subarray(i, i + 1));
      drain(d, got);
      assert.ok(d.bufferedBytes <= bytes.length);
    }
    assert.equal(got, [v.frame], `${v.name} byte by byte`);
    // Every split point for ordinary frames; 257 evenly spread ones for the 64 KiB key.
    const step = bytes.length <= 4096 ? 1 : Math.ceil(bytes.length / 256);
    for (let cut = 0; cut <= bytes.length; cut += cut + step > bytes.length && cut < bytes.length ? bytes.length - cut : step) {
      const s = new FrameDecoder({ maxFrameBytes: NO_LIMITS.maxFrameBytes });
      const parts: string[] = [];
      s.push(bytes.subarray(0, cut));
      drain(s, parts);
      s.push(bytes.subarray(cut));
      drain(s, parts);
      assert.equal(parts, [v.frame], `${v.name} cut at ${cut}`);
    }
  }
});

test('all vectors back to back, one byte at a time, come out in order', () => {
  const stream = Buffer.concat(valid.filter((v) => v.frame.length < 10_000).map((v) => fromHex(v.frame)));
  const d = new FrameDecoder();
  const got: string[] = [];
  for (const b of stream) {
    d.push(Uint8Array.of(b));
    drain(d, got);
  }
  assert.equal(got, valid.filter((v) => v.frame.length < 10_000).map((v) => v.frame));
});

const refusal = (v: InvalidVectorFile['invalid'][number], split: number): KvError => {
  const bytes = fromHex(v.frame);
  const d = new FrameDecoder({ maxFrameBytes: v.limits.maxFrameBytes });
  const frames: Frame[] = [];
  try {
    for (let i = 0; i < bytes.length; i += split) {
      d.push(bytes.subarray(i, i + split));
      for (let f = d.next(); f !== undefined; f = d.next()) frames.push(f);
    }
  } catch (e) {
    assert.ok(e instanceof KvError);
    assert.is(v.stage, 'frame', `${v.name} refused by the frame decoder`);
    return e;
  }
  assert.is(v.stage, 'message', `${v.name} passed the frame decoder`);
  assert.is(frames.length, 1, v.name);
  const r = decodeMessage(frames[0]!, v.limits);
  assert.ok(E.isLeft(r), `${v.name} decoded`);
  return (r as E.Left<KvError>).left;
};

test('each invalid vector is refused at its stage with its code and reason, whole or byte by byte', () => {
  for (const v of invalid) {
    for (const split of [1 << 30, 1]) {
      const e = refusal(v, split);
      assert.is(e.code, v.code, v.name);
      assert.is(e.message, `${v.code}: ${v.reason}`, v.name);
    }
  }
});

test('the generator reproduces the committed vector files byte for byte', () => {
  const rendered = renderVectors();
  assert.equal(Object.keys(rendered).sort(), files);
  for (const f of files) assert.ok(rendered[f] === read(f), `${f} differs: run node --import tsx protocol/gen_vectors.ts`);
});

test.run();

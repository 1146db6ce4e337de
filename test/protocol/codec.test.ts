import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../../src/errors.js';
import {
  DEFAULT_LIMITS,
  FrameDecoder,
  FrameWriter,
  closesConnection,
  decodeFrame,
  decodeMessage,
  encode,
  encodeInto,
  encodedSize,
  messageToJson,
  toKvError,
  type Frame,
  type Message,
} from '../../protocol/index.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

const sample: readonly Message[] = [
  { op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 1, role: 'client', clientName: 'app', nodeId: '', authMechanism: '', authPayload: new Uint8Array(0) },
  { op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'n1', maxFrameBytes: 8 << 20, maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxInFlight: 1024, ringVersion: 2n ** 63n + 5n },
  { op: 'GET', streamId: 1, key: bytes('k'), r: 2, timeoutMs: 500 },
  { op: 'GET_REPLY', streamId: 1, found: true, context: bytes('ctx'), siblings: [{ value: bytes('a'), tombstone: false }, { value: new Uint8Array(0), tombstone: true }] },
  { op: 'PUT', streamId: 7, key: bytes('k'), value: bytes('v'), context: new Uint8Array(0), w: 0, timeoutMs: 0 },
  { op: 'PUT_REPLY', streamId: 7, context: bytes('c2') },
  { op: 'DELETE', streamId: 9, key: bytes('k'), context: bytes('c'), w: 3, timeoutMs: 1 },
  { op: 'DELETE_REPLY', streamId: 9, context: new Uint8Array(0) },
  { op: 'PING', streamId: 3, payload: bytes('hi') },
  { op: 'PONG', streamId: 3, payload: bytes('hi') },
  { op: 'STATS', streamId: 4 },
  { op: 'STATS_REPLY', streamId: 4, stats: [{ name: 'ops', value: 1.5 }, { name: 'keys', value: -0 }] },
  { op: 'RING', streamId: 5, body: new Uint8Array(0) },
  { op: 'RING_REPLY', streamId: 5, body: bytes('opaque') },
  { op: 'ERROR', streamId: 0, code: 'KV_BAD_FRAME', message: 'reserved flags set', retryable: false },
  { op: 'NODE', streamId: 11, opcode: 0x40, response: false, body: bytes('gossip') },
];

const decodeOne = (b: Uint8Array, limits = DEFAULT_LIMITS): E.Either<KvError, Message> =>
  E.chain((f: Frame) => decodeMessage(f, limits))(decodeFrame(b));

const leftCode = (r: E.Either<KvError, unknown>): string => {
  if (E.isRight(r)) throw new Error('expected a Left');
  assert.ok(r.left instanceof KvError);
  return r.left.code;
};

test('every message type encodes into a frame of encodedSize bytes and decodes back equal', () => {
  for (const m of sample) {
    const b = encode(m);
    assert.is(b.length, encodedSize(m), m.op);
    const r = decodeOne(b);
    assert.ok(E.isRight(r), m.op);
    if (E.isRight(r)) assert.equal(messageToJson(r.right), messageToJson(m), m.op);
  }
});

test('a GET frame has the documented header layout', () => {
  const b = encode({ op: 'GET', streamId: 0x01020304, key: bytes('ab'), r: 0, timeoutMs: 0 });
  // length 8 + 1 + 4 + 2 + 2 = 17
  assert.is(Buffer.from(b).toString('hex'), '00000011' + '01' + '10' + '0000' + '01020304' + '00' + '00000000' + '0002' + '6162');
});

test('encodeInto writes at the offset and returns the end; too small a buffer is a RangeError', () => {
  const m = sample[2]!;
  const out = new Uint8Array(encodedSize(m) + 10).fill(0xee);
  const end = encodeInto(m, out, 5);
  assert.is(end, 5 + encodedSize(m));
  assert.is(out[4], 0xee);
  assert.is(out[end], 0xee);
  assert.equal(out.subarray(5, end), new Uint8Array(encode(m)));
  assert.throws(() => encodeInto(m, new Uint8Array(4), 0), RangeError);
});

test('the encoder refuses invalid messages with coded errors', () => {
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof KvError);
      return e.code;
    }
    throw new Error('did not throw');
  };
  assert.is(code(() => encode({ op: 'GET', streamId: 1, key: new Uint8Array(70000), r: 0, timeoutMs: 0 })), 'KV_TOO_LARGE');
  assert.is(code(() => encode({ op: 'GET', streamId: 1, key: bytes('k'), r: 256, timeoutMs: 0 })), 'KV_BAD_ARGUMENT');
  assert.is(code(() => encode({ op: 'GET', streamId: 0, key: bytes('k'), r: 0, timeoutMs: 0 })), 'KV_BAD_ARGUMENT');
  assert.is(code(() => encode({ op: 'GET', streamId: -1, key: bytes('k'), r: 0, timeoutMs: 0 })), 'KV_BAD_ARGUMENT');
  assert.is(code(() => encode({ ...(sample[0] as Message & { op: 'HELLO' }), streamId: 3 })), 'KV_BAD_ARGUMENT');
  assert.is(code(() => encode({ op: 'NODE', streamId: 1, opcode: 0x10, response: false, body: bytes('') })), 'KV_BAD_ARGUMENT');
  assert.is(code(() => encode({ op: 'ERROR', streamId: 1, code: 'KV_X', message: 'x'.repeat(70000), retryable: true })), 'KV_TOO_LARGE');
  assert.is(code(() => encode({ op: 'ERROR', streamId: 1, code: 'KV_X', message: 'a\ud800b', retryable: true })), 'KV_BAD_ARGUMENT');
  assert.ok(encode({ op: 'ERROR', streamId: 1, code: 'KV_X', message: 'a\ud83d\ude00b', retryable: true }).length > 0);
});

test('decoder: frames wholly inside one chunk are zero-copy subarrays of it', () => {
  const chunk = Buffer.concat([encode(sample[2]!), encode(sample[4]!)]);
  const d = new FrameDecoder();
  d.push(chunk);
  const f1 = d.next()!;
  const f2 = d.next()!;
  assert.is(d.next(), undefined);
  assert.is(f1.bytes.buffer, chunk.buffer);
  assert.is(f2.body.buffer, chunk.buffer);
  const put = decodeMessage(f2);
  assert.ok(E.isRight(put) && put.right.op === 'PUT' && put.right.key.buffer === chunk.buffer);
  assert.is(d.bufferedBytes, 0);
});

test('decoder: any split of a stream of frames yields the same frames', () => {
  const stream = Buffer.concat(sample.map((m) => encode(m)));
  const expect = sample.map((m) => Buffer.from(encode(m)).toString('hex'));
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder();
    d.push(stream.subarray(0, cut));
    d.push(stream.subarray(cut));
    const got: string[] = [];
    for (let f = d.next(); f !== undefined; f = d.next()) got.push(Buffer.from(f.bytes).toString('hex'));
    assert.equal(got, expect, `cut at ${cut}`);
  }
  const d = new FrameDecoder();
  const got: string[] = [];
  for (const byte of stream) {
    d.push(Uint8Array.of(byte));
    for (let f = d.next(); f !== undefined; f = d.next()) got.push(Buffer.from(f.bytes).toString('hex'));
  }
  assert.equal(got, expect, 'one byte at a time');
});

const failure = (d: FrameDecoder): KvError => {
  try {
    while (d.next() !== undefined);
  } catch (e) {
    assert.ok(e instanceof KvError);
    return e;
  }
  throw new Error('decoder did not fail');
};

test('decoder: invalid headers fail with a code and the reason', () => {
  const good = encode(sample[2]!);
  const withByte = (i: number, v: number): Uint8Array => {
    const b = new Uint8Array(good);
    b[i] = v;
    return b;
  };
  const cases: readonly [Uint8Array, string][] = [
    [Uint8Array.of(0, 0, 0, 7, 1, 1, 0, 0, 0, 0, 0, 0), 'KV_BAD_FRAME: length < header size'],
    [withByte(7, 2), 'KV_BAD_FRAME: reserved flags set'],
    [withByte(6, 0x80), 'KV_BAD_FRAME: reserved flags set'],
    [withByte(4, 7), 'KV_BAD_FRAME: version 7 not supported'],
    [withByte(4, 0), 'KV_BAD_FRAME: version 0 not supported'],
  ];
  for (const [b, msg] of cases) {
    for (const split of [b.length, 1]) {
      const d = new FrameDecoder();
      for (let i = 0; i < b.length; i += split) d.push(b.subarray(i, i + split));
      assert.is(failure(d).message, msg);
      assert.ok(d.failed);
    }
  }
});

test('decoder: an oversized length is refused from its 4 bytes alone, before any allocation', () => {
  const d = new FrameDecoder({ maxFrameBytes: 1024 });
  d.push(Uint8Array.of(0xff, 0xff, 0xff));
  assert.is(d.next(), undefined);
  d.push(Uint8Array.of(0xf0));
  const e = failure(d);
  assert.is(e.code, 'KV_TOO_LARGE');
  assert.ok(d.bufferedBytes <= 12);
  // The limit counts the whole frame, prefix included: 1024 is fine, 1025 is not.
  const ok = new FrameDecoder({ maxFrameBytes: 1024 });
  ok.push(encode({ op: 'PING', streamId: 1, payload: new Uint8Array(1024 - 16) }));
  assert.is(ok.next()!.bytes.length, 1024);
  const over = new FrameDecoder({ maxFrameBytes: 1024 });
  over.push(encode({ op: 'PING', streamId: 1, payload: new Uint8Array(1024 - 15) }));
  assert.is(failure(over).code, 'KV_TOO_LARGE');
});

test('decoder: a large announced frame reserves memory as its bytes arrive, not up front', () => {
  const total = 4 * 1024 * 1024;
  const frame = encode({ op: 'PING', streamId: 1, payload: new Uint8Array(total - 16).fill(7) });
  for (const step of [12, 1000, 100_000]) {
    const d = new FrameDecoder();
    d.push(frame.subarray(0, step));
    assert.ok(d.reservedBytes <= Math.max(64 * 1024, 2 * step), `after ${step} bytes: ${d.reservedBytes}`);
    for (let at = step; at < frame.length; at += step) {
      d.push(frame.subarray(at, at + step));
      if (d.pendingFrames === 0) assert.ok(d.reservedBytes <= Math.max(64 * 1024, 2 * d.bufferedBytes));
    }
    const f = d.next()!;
    assert.is(f.bytes.length, total);
    assert.ok(f.bytes.every((b, i) => (i < 16 ? b === frame[i] : b === 7)));
  }
});

test('decoder: frames before a bad header are delivered, then the error repeats', () => {
  const d = new FrameDecoder();
  d.push(Buffer.concat([encode(sample[2]!), Uint8Array.of(0, 0, 0, 8, 9, 1, 0, 0, 0, 0, 0, 1), encode(sample[2]!)]));
  assert.ok(d.next() !== undefined);
  assert.throws(() => d.next(), /version 9 not supported/);
  assert.throws(() => d.next(), /version 9 not supported/);
  d.push(encode(sample[2]!));
  assert.throws(() => d.next(), /version 9 not supported/);
});

test('decodeMessage: unknown request opcode is KV_UNSUPPORTED (per stream), unknown response opcode KV_BAD_FRAME', () => {
  const b = new Uint8Array(encode({ op: 'STATS', streamId: 5 }));
  b[5] = 0x30;
  const r = decodeOne(b);
  assert.is(leftCode(r), 'KV_UNSUPPORTED');
  assert.not.ok(closesConnection((r as E.Left<KvError>).left));
  b[7] = 1;
  assert.is(leftCode(decodeOne(b)), 'KV_BAD_FRAME');
});

test('decodeMessage: node opcodes decode as opaque NODE messages', () => {
  const r = decodeOne(encode({ op: 'NODE', streamId: 2, opcode: 0x7f, response: true, body: bytes('x') }));
  assert.ok(E.isRight(r));
  if (E.isRight(r)) assert.equal(messageToJson(r.right), { op: 'NODE', streamId: 2, opcode: 0x7f, response: true, body: '78' });
});

test('decodeMessage: truncated, extended and inconsistent bodies are KV_BAD_FRAME', () => {
  for (const m of sample) {
    const b = Buffer.from(encode(m));
    const body = b.length - 12;
    if (body > 0 && m.op !== 'RING' && m.op !== 'RING_REPLY' && m.op !== 'NODE') {
      const cut = Buffer.from(b.subarray(0, b.length - 1));
      cut.writeUInt32BE(cut.length - 4, 0);
      assert.is(leftCode(decodeOne(cut)), 'KV_BAD_FRAME', `${m.op} truncated`);
    }
    if (m.op !== 'RING' && m.op !== 'RING_REPLY' && m.op !== 'NODE') {
      const ext = Buffer.concat([b, Uint8Array.of(0)]);
      ext.writeUInt32BE(ext.length - 4, 0);
      assert.is(leftCode(decodeOne(ext)), 'KV_BAD_FRAME', `${m.op} extended`);
    }
  }
  // A sibling count far beyond the body.
  const gr = Buffer.from(encode({ op: 'GET_REPLY', streamId: 1, found: false, context: new Uint8Array(0), siblings: [] }));
  gr.writeUInt16BE(0xffff, gr.length - 2);
  assert.is(leftCode(decodeOne(gr)), 'KV_BAD_FRAME');
  // Reserved bits in a body flag byte.
  const er = Buffer.from(encode({ op: 'ERROR', streamId: 1, code: 'KV_TIMEOUT', message: '', retryable: true }));
  er[12] = 3;
  assert.is(leftCode(decodeOne(er)), 'KV_BAD_FRAME');
  // Invalid UTF-8 in a string.
  const bad = Buffer.from(encode({ op: 'ERROR', streamId: 1, code: 'KV_TIMEOUT', message: 'ab', retryable: true }));
  bad[bad.length - 1] = 0xff;
  assert.is(leftCode(decodeOne(bad)), 'KV_BAD_FRAME');
  // GET on stream 0, HELLO on stream 1.
  const g0 = Buffer.from(encode(sample[2]!));
  g0.writeUInt32BE(0, 8);
  assert.is(leftCode(decodeOne(g0)), 'KV_BAD_FRAME');
  const h1 = Buffer.from(encode(sample[0]!));
  h1.writeUInt32BE(1, 8);
  assert.is(leftCode(decodeOne(h1)), 'KV_BAD_FRAME');
});

test('decodeMessage: request limits give per-stream KV_TOO_LARGE / KV_BAD_ARGUMENT', () => {
  const limits = { ...DEFAULT_LIMITS, maxKeyBytes: 4, maxValueBytes: 8 };
  assert.is(leftCode(decodeOne(encode({ op: 'GET', streamId: 1, key: bytes('12345'), r: 0, timeoutMs: 0 }), limits)), 'KV_TOO_LARGE');
  assert.ok(E.isRight(decodeOne(encode({ op: 'GET', streamId: 1, key: bytes('1234'), r: 0, timeoutMs: 0 }), limits)));
  const put = (n: number): Message => ({ op: 'PUT', streamId: 1, key: bytes('k'), value: new Uint8Array(n), context: new Uint8Array(0), w: 0, timeoutMs: 0 });
  assert.is(leftCode(decodeOne(encode(put(9)), limits)), 'KV_TOO_LARGE');
  assert.ok(E.isRight(decodeOne(encode(put(8)), limits)));
  const r = decodeOne(encode({ op: 'DELETE', streamId: 1, key: new Uint8Array(0), context: new Uint8Array(0), w: 0, timeoutMs: 0 }), limits);
  assert.is(leftCode(r), 'KV_BAD_ARGUMENT');
  assert.not.ok(closesConnection((r as E.Left<KvError>).left));
});

test('FrameWriter coalesces frames; taken bytes are never overwritten', () => {
  const w = new FrameWriter({ slabBytes: 64 });
  w.write(sample[2]!);
  w.write(sample[4]!);
  assert.is(w.pendingFrames, 2);
  const first = w.take();
  const firstCopy = Buffer.from(first);
  assert.equal(new Uint8Array(first), new Uint8Array(Buffer.concat([encode(sample[2]!), encode(sample[4]!)])));
  for (let i = 0; i < 20; i++) w.write(sample[3]!);
  const second = w.take();
  assert.equal(first, firstCopy);
  const d = new FrameDecoder();
  d.push(second);
  let n = 0;
  while (d.next() !== undefined) n++;
  assert.is(n, 20);
  assert.is(w.take().length, 0);
  const small = new FrameWriter({ maxFrameBytes: 20 });
  assert.throws(() => small.write(sample[4]!), (e: unknown) => e instanceof KvError && e.code === 'KV_TOO_LARGE');
  assert.is(small.pendingBytes, 0);
});

test('toKvError maps wire codes, keeping unknown ones in the message', () => {
  assert.is(toKvError({ op: 'ERROR', streamId: 1, code: 'KV_TIMEOUT', message: 'slow', retryable: true }).code, 'KV_TIMEOUT');
  const e = toKvError({ op: 'ERROR', streamId: 1, code: 'KV_FUTURE', message: 'x', retryable: false });
  assert.is(e.code, 'KV_INTERNAL');
  assert.match(e.message, 'KV_FUTURE');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  FrameDecoder,
  FrameWriter,
  decodeFrame,
  decodeMessage,
  encode,
  encodedSize,
  messageFromJson,
  messageToJson,
  type Message,
} from '../../protocol/index.js';
import { check } from '../helpers/seed.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u32 = fc.nat({ max: 0xffffffff });
const stream = fc.integer({ min: 1, max: 0xffffffff });
const blob = fc.uint8Array({ maxLength: 64 });
const key = fc.uint8Array({ minLength: 1, maxLength: 64 });
const str = fc.string({ unit: 'binary', maxLength: 20 });

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    op: fc.constant('HELLO' as const),
    streamId: fc.constant(0),
    minVersion: fc.integer({ min: 1, max: 3 }),
    maxVersion: fc.integer({ min: 3, max: 255 }),
    role: fc.constantFrom('client' as const, 'node' as const),
    clientName: str,
    nodeId: str,
    authMechanism: str,
    authPayload: blob,
  }),
  fc.record({
    op: fc.constant('HELLO_OK' as const),
    streamId: fc.constant(0),
    version: u8,
    nodeId: str,
    maxFrameBytes: u32,
    maxKeyBytes: u32,
    maxValueBytes: u32,
    maxInFlight: u32,
    ringVersion: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  }),
  fc.record({ op: fc.constant('ERROR' as const), streamId: u32, code: str, message: str, retryable: fc.boolean() }),
  fc.record({ op: fc.constantFrom('PING' as const, 'PONG' as const), streamId: stream, payload: blob }),
  fc.record({ op: fc.constantFrom('AUTH' as const, 'AUTH_REPLY' as const), streamId: fc.constant(0), payload: blob }),
  fc.record({ op: fc.constant('GET' as const), streamId: stream, key, r: u8, timeoutMs: u32 }),
  fc.record({
    op: fc.constant('GET_REPLY' as const),
    streamId: stream,
    found: fc.boolean(),
    context: blob,
    siblings: fc.array(fc.record({ value: blob, tombstone: fc.boolean() }), { maxLength: 5 }),
  }),
  fc.record({ op: fc.constant('PUT' as const), streamId: stream, key, value: blob, context: blob, w: u8, timeoutMs: u32 }),
  fc.record({ op: fc.constant('DELETE' as const), streamId: stream, key, context: blob, w: u8, timeoutMs: u32 }),
  fc.record({ op: fc.constantFrom('PUT_REPLY' as const, 'DELETE_REPLY' as const), streamId: stream, context: blob }),
  fc.record({ op: fc.constant('STATS' as const), streamId: stream }),
  fc.record({
    op: fc.constant('STATS_REPLY' as const),
    streamId: stream,
    stats: fc.array(fc.record({ name: str, value: fc.double() }), { maxLength: 5 }),
  }),
  fc.record({ op: fc.constantFrom('RING' as const, 'RING_REPLY' as const), streamId: stream, body: blob }),
  fc.record({
    op: fc.constant('NODE' as const),
    streamId: stream,
    opcode: fc.integer({ min: 0x40, max: 0x7f }),
    response: fc.boolean(),
    body: blob,
  }),
);

// JSON form compares bytes by content (Buffer vs Uint8Array) and -0/NaN via Object.is below.
const same = (a: Message, b: Message): void => {
  if (a.op === 'STATS_REPLY' && b.op === 'STATS_REPLY') {
    assert.is(a.stats.length, b.stats.length);
    a.stats.forEach((s, i) => assert.ok(Object.is(s.value, b.stats[i]!.value), `stat ${i}`));
  }
  assert.equal(JSON.stringify(messageToJson(a)), JSON.stringify(messageToJson(b)));
};

test('law: decodeMessage(decodeFrame(encode(m))) = right(m)', () => {
  check(
    fc.property(message, (m) => {
      const b = encode(m);
      assert.is(b.length, encodedSize(m));
      const r = E.chain(decodeMessage)(decodeFrame(b));
      assert.ok(E.isRight(r), E.isLeft(r) ? r.left.message : '');
      if (E.isRight(r)) same(r.right, m);
    }),
    500,
  );
});

test('law: encode(decode(bytes)) = bytes for every valid frame', () => {
  check(
    fc.property(message, (m) => {
      const b = encode(m);
      const r = E.chain(decodeMessage)(decodeFrame(b));
      if (E.isRight(r)) assert.equal(new Uint8Array(encode(r.right)), new Uint8Array(b));
    }),
    300,
  );
});

test('law: messageFromJson(messageToJson(m)) encodes to the same bytes', () => {
  check(
    fc.property(message, (m) => {
      const j = JSON.parse(JSON.stringify(messageToJson(m))) as Record<string, unknown>;
      assert.equal(new Uint8Array(encode(messageFromJson(j))), new Uint8Array(encode(m)));
    }),
    200,
  );
});

test('law: a FrameWriter batch split anywhere decodes to the messages written', () => {
  check(
    fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (ms, cuts) => {
      const w = new FrameWriter({ slabBytes: 128 });
      for (const m of ms) w.write(m);
      const batch = w.take();
      const points = [...new Set(cuts.map((c) => c % (batch.length + 1)))].sort((a, b) => a - b);
      const d = new FrameDecoder();
      const got: Message[] = [];
      let from = 0;
      for (const p of [...points, batch.length]) {
        d.push(batch.subarray(from, p));
        from = p;
        for (let f = d.next(); f !== undefined; f = d.next()) {
          const r = decodeMessage(f);
          assert.ok(E.isRight(r));
          if (E.isRight(r)) got.push(r.right);
        }
      }
      assert.is(got.length, ms.length);
      got.forEach((g, i) => same(g, ms[i]!));
      assert.is(d.bufferedBytes, 0);
    }),
    200,
  );
});

test.run();

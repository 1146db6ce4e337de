import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { KvError } from '../../src/errors.js';
import {
  DEFAULT_LIMITS,
  StreamIds,
  acceptHello,
  chooseVersion,
  decodeFrame,
  decodeMessage,
  encode,
  errorMessage,
  messageToJson,
  nextStreamId,
  type Hello,
} from '../../protocol/index.js';
import { check } from '../helpers/seed.js';

const hello: Hello = {
  op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 1, role: 'client', clientName: 'test', nodeId: '', authMechanism: '', authPayload: new Uint8Array(0),
};
const info = { nodeId: 'n1', limits: DEFAULT_LIMITS, ringVersion: 7n };
const leftCode = (r: E.Either<{ code: string }, unknown>): string => (E.isLeft(r) ? r.left.code : 'right');

test('acceptHello answers a v1 client with HELLO_OK carrying the limits', () => {
  const r = acceptHello(hello, info);
  assert.ok(E.isRight(r));
  if (E.isRight(r)) {
    assert.equal(messageToJson(r.right), {
      op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'n1', ...DEFAULT_LIMITS, ringVersion: '7',
    });
    // and the answer is encodable as is
    assert.ok(E.isRight(E.chain(decodeMessage)(decodeFrame(encode(r.right)))));
  }
});

test('acceptHello refuses with the codes of PROTOCOL.md §5', () => {
  assert.is(leftCode(acceptHello({ ...hello, minVersion: 2, maxVersion: 5 }, info)), 'KV_UNSUPPORTED');
  assert.is(leftCode(acceptHello({ ...hello, authMechanism: 'SCRAM-SHA-256' }, info)), 'KV_AUTH');
  assert.is(leftCode(acceptHello({ ...hello, role: 'node' }, info)), 'KV_BAD_ARGUMENT');
  assert.is(leftCode(acceptHello({ ...hello, nodeId: 'n9' }, info)), 'KV_BAD_ARGUMENT');
  assert.ok(E.isRight(acceptHello({ ...hello, role: 'node', nodeId: 'n2', maxVersion: 9 }, info)));
  const r = acceptHello({ ...hello, minVersion: 3, maxVersion: 3 }, info);
  assert.ok(E.isLeft(r) && r.left.streamId === 0 && !r.left.retryable);
});

test('chooseVersion picks the highest common version', () => {
  assert.is(chooseVersion(1, 3, [1, 2]), 2);
  assert.is(chooseVersion(2, 3, [1]), null);
  assert.is(chooseVersion(1, 1), 1);
});

test('errorMessage strips the code prefix and marks retryable codes', () => {
  assert.equal(errorMessage(5, new KvError('KV_TIMEOUT', 'slow')), { op: 'ERROR', streamId: 5, code: 'KV_TIMEOUT', message: 'slow', retryable: true });
  assert.equal(errorMessage(0, new KvError('KV_BAD_FRAME', 'reserved flags set')).retryable, false);
  assert.is(errorMessage(1, new KvError('KV_CONFLICT', 'x'), true).retryable, true);
});

test('StreamIds never hands out 0 or an id in use, and respects maxInFlight', () => {
  const ids = new StreamIds(3);
  const a = ids.acquire()!;
  const b = ids.acquire()!;
  const c = ids.acquire()!;
  assert.equal([a, b, c], [1, 2, 3]);
  assert.is(ids.acquire(), undefined);
  assert.ok(ids.release(b));
  assert.not.ok(ids.release(b));
  assert.is(ids.acquire(), 4);
  check(
    fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (ops) => {
      const s = new StreamIds(16);
      const held: number[] = [];
      for (const acquire of ops) {
        if (acquire) {
          const id = s.acquire();
          if (id === undefined) assert.is(held.length, 16);
          else {
            assert.ok(id !== 0 && !held.includes(id));
            held.push(id);
          }
        } else if (held.length > 0) assert.ok(s.release(held.shift()!));
        assert.is(s.inFlight, held.length);
      }
    }),
  );
});

test('StreamIds wraps from 2^32-1 to 1, skipping ids still in use', () => {
  const ids = new StreamIds(4);
  (ids as unknown as { next: number }).next = 0xfffffffe;
  assert.is(ids.acquire(), 0xfffffffe);
  assert.is(ids.acquire(), 0xffffffff);
  assert.is(ids.acquire(), 1);
  ids.release(0xfffffffe);
  (ids as unknown as { next: number }).next = 0xffffffff;
  assert.is(ids.acquire(), 2);
});

test('nextStreamId skips ids in use, wraps past 2^32-1 to 1, and never returns 0', () => {
  const used = new Set([5, 6, 8]);
  assert.is(nextStreamId(5, (x) => used.has(x)), 7);
  assert.is(nextStreamId(0xffffffff, (x) => x === 0xffffffff), 1);
  assert.is(nextStreamId(0, () => false), 1);
  assert.is(nextStreamId(1, (x) => x < 4), 4);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { check } from '../helpers/seed.js';
import * as A from '../../protocol/aae_admin.js';

const u32 = fc.nat({ max: 0xffffffff });
const counter = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const id = fc.string({ maxLength: 20 });

test('AAE_EXCHANGE request and reply bodies round-trip', () => {
  check(
    fc.property(fc.nat({ max: 0xffff }), id, u32, u32, u32, u32, counter, u32, (partition, peer, a, b, c, d, bytesSent, t) => {
      assert.equal(A.decodeAaeExchangeRequest(A.encodeAaeExchangeRequest({ partition, peer })), E.right({ partition, peer }));
      const reply = { partition, peer, segmentsCompared: a, differingSegments: b, keysDiffering: c, keysRepaired: d, bytesSent, tombstonesReaped: t };
      assert.equal(A.decodeAaeExchangeReply(A.encodeAaeExchangeReply(reply)), E.right(reply));
    }),
  );
});

test('AAE_STATUS reply body round-trips', () => {
  const status = fc.record({ partition: fc.nat({ max: 0xffff }), lastExchangeMs: counter, lastPeer: id, lastKeysRepaired: u32, keysRepaired: counter, tombstones: u32 }).map((x) => ({ ...x }));
  check(fc.property(fc.array(status, { maxLength: 10 }), (list) => assert.equal(A.decodeAaeStatusReply(A.encodeAaeStatusReply(list)), E.right(list))));
});

test('truncated or padded bodies are KV_BAD_FRAME, never a throw', () => {
  const body = A.encodeAaeExchangeReply({ partition: 1, peer: 'n2', segmentsCompared: 1, differingSegments: 0, keysDiffering: 0, keysRepaired: 0, bytesSent: 9, tombstonesReaped: 0 });
  for (let n = 0; n < body.length; n++) {
    const r = A.decodeAaeExchangeReply(body.subarray(0, n));
    assert.ok(E.isLeft(r) && r.left.code === 'KV_BAD_FRAME');
  }
  const padded = A.decodeAaeStatusReply(Buffer.concat([A.encodeAaeStatusReply([]), Buffer.from([0])]));
  assert.ok(E.isLeft(padded) && padded.left.code === 'KV_BAD_FRAME');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import * as RP from '../../src/core/ring_plan.js';
import { chunkChecksum, decodeClusterRing, encodeClusterRing } from '../../protocol/ring_plan.js';
import { check } from '../helpers/seed.js';

const ids = (k: number, w = 1): RP.Member[] => Array.from({ length: k }, (_, i) => ({ id: `n${i + 1}`, weight: i === 0 ? w : 1 }));

const arbRing: fc.Arbitrary<RP.ClusterRing> = fc
  .record({ bits: fc.integer({ min: 1, max: 6 }), a: fc.integer({ min: 1, max: 5 }), b: fc.integer({ min: 1, max: 6 }), w: fc.constantFrom(1, 2, 0.5), done: fc.nat(20) })
  .map(({ bits, a, b, w, done }) => {
    let r = RP.propose(RP.propose(RP.provisional('n1', bits), ids(a), 3, 'n1'), ids(b, w), 3, 'n2');
    for (const t of RP.pendingTransfers(r, 3).slice(0, done)) r = RP.markDone(r, t.partition, t.target, 3);
    return r;
  });

test('decodeClusterRing(encodeClusterRing(r)) ≡ r', () => {
  check(
    fc.property(arbRing, (r) => {
      const d = decodeClusterRing(encodeClusterRing(r));
      assert.ok(E.isRight(d));
      if (E.isRight(d)) {
        assert.ok(RP.equals(d.right, r));
        assert.equal(d.right.members, r.members);
        assert.equal(d.right.current.owners, r.current.owners);
        assert.equal(d.right.next?.owners, r.next?.owners);
      }
    }),
    100,
  );
});

test('garbage never throws: truncations of a valid ring are KV_BAD_FRAME', () => {
  const r = RP.propose(RP.propose(RP.provisional('n1', 4), ids(3), 3, 'n1'), ids(4), 3, 'n1');
  const b = encodeClusterRing(r);
  for (let i = 0; i < b.length; i++) {
    const d = decodeClusterRing(b.subarray(0, i));
    assert.ok(E.isLeft(d));
    if (E.isLeft(d)) assert.is(d.left.code, 'KV_BAD_FRAME');
  }
});

test('the chunk checksum changes with any byte of a key or object', () => {
  const items = [{ key: Buffer.from('a'), object: Buffer.from('xyz') }];
  const base = chunkChecksum(items);
  assert.is.not(chunkChecksum([{ key: Buffer.from('b'), object: Buffer.from('xyz') }]), base);
  assert.is.not(chunkChecksum([{ key: Buffer.from('a'), object: Buffer.from('xyy') }]), base);
  assert.is(chunkChecksum([]), 0x811c9dc5);
});

test.run();

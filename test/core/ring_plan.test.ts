import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as RP from '../../src/core/ring_plan.js';
import { ownershipCounts, preferenceList } from '../../src/core/ring.js';
import { check } from '../helpers/seed.js';

const N = 3;
const ids = (k: number): RP.Member[] => Array.from({ length: k }, (_, i) => ({ id: `n${i + 1}`, weight: 1 }));

/** A value reached by a random walk of proposals, done marks and commits from a provisional ring. */
const arbWalk = (seedNode: string): fc.Arbitrary<RP.ClusterRing> =>
  fc
    .record({
      bits: fc.integer({ min: 3, max: 6 }),
      steps: fc.array(fc.oneof(fc.integer({ min: 1, max: 6 }).map((k) => ({ k })), fc.nat(200).map((d) => ({ d })), fc.constant({ c: true })), { maxLength: 8 }),
    })
    .map(({ bits, steps }) => {
      let r = RP.provisional(seedNode, bits);
      for (const s of steps) {
        if ('k' in s) r = RP.propose(r, ids(s.k), N, seedNode);
        else if ('d' in s) {
          const pend = RP.pendingTransfers(r, N);
          const t = pend[s.d % Math.max(1, pend.length)];
          if (t !== undefined) r = RP.markDone(r, t.partition, t.target, N);
        } else r = RP.commit(r, N) ?? r;
      }
      return r;
    });

test('merge is commutative, associative and idempotent on identities and done sets', () => {
  check(
    fc.property(arbWalk('n1'), arbWalk('n2'), arbWalk('n1'), (a, b, c) => {
      assert.ok(RP.equals(RP.merge(a, b), RP.merge(b, a)));
      assert.ok(RP.equals(RP.merge(a, RP.merge(b, c)), RP.merge(RP.merge(a, b), c)));
      assert.is(RP.merge(a, a), a);
      assert.ok(RP.compare(RP.merge(a, b), a) >= 0);
    }),
    200,
  );
});

test('two nodes marking different transfers of one plan merge to both marks', () => {
  const base = RP.propose(RP.propose(RP.provisional('n1', 5), ids(3), N, 'n1'), ids(4), N, 'n1');
  const pend = RP.pendingTransfers(base, N);
  assert.ok(pend.length >= 2);
  const a = RP.markDone(base, pend[0]!.partition, pend[0]!.target, N);
  const b = RP.markDone(base, pend[1]!.partition, pend[1]!.target, N);
  const m = RP.merge(a, b);
  assert.is(m.done.length, 2);
  assert.is(RP.pendingTransfers(m, N).length, pend.length - 2);
});

test('a join plans transfers only to nodes entering preference lists, and commits only once all are done', () => {
  check(
    fc.property(fc.integer({ min: 3, max: 7 }), fc.integer({ min: 3, max: 8 }), (s, bits) => {
      let r = RP.propose(RP.provisional('n1', bits), ids(s), N, 'n1');
      assert.is(r.epoch, 1);
      assert.is(r.next, null);
      r = RP.propose(r, ids(s + 1), N, 'n1');
      assert.ok(r.next !== null);
      const plan = RP.plannedTransfers(r, N);
      for (const t of plan) {
        assert.ok(preferenceList(r.next!, t.partition, N).includes(t.target));
        assert.not.ok(preferenceList(r.current, t.partition, N).includes(t.target));
      }
      for (const [i, t] of plan.entries()) {
        assert.is(RP.commit(r, N), null);
        assert.is(RP.routeRing(r, t.partition, N), r.current);
        r = RP.markDone(r, t.partition, t.target, N);
        if (i === plan.length - 1) break;
      }
      const c = RP.commit(r, N);
      assert.ok(c !== null);
      assert.is(c!.next, null);
      assert.is(c!.epoch, r.epoch + 1);
      const counts = [...ownershipCounts(c!.current).values()];
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
      assert.is(counts.length, s + 1);
      // No change, no new value.
      assert.is(RP.propose(c!, ids(s + 1), N, 'n2'), c!);
    }),
    30,
  );
});

test('while a plan is pending, writes reach the union of both preference lists', () => {
  const r = RP.propose(RP.propose(RP.provisional('n1', 5), ids(3), N, 'n1'), ids(5), N, 'n1');
  for (let p = 0; p < r.current.partitionCount; p++) {
    const routed = preferenceList(RP.routeRing(r, p, N), p, N);
    const all = new Set([...routed, ...RP.extraTargets(r, p, N)]);
    for (const x of preferenceList(r.current, p, N)) assert.ok(all.has(x));
    for (const x of preferenceList(r.next!, p, N)) assert.ok(all.has(x));
  }
});

test('a second change during a pending plan keeps the transfers the new plan still needs', () => {
  let r = RP.propose(RP.propose(RP.provisional('n1', 6), ids(3), N, 'n1'), ids(4), N, 'n1');
  for (const t of RP.pendingTransfers(r, N).filter((t) => t.target === 'n4')) r = RP.markDone(r, t.partition, t.target, N);
  const r2 = RP.propose(r, ids(5), N, 'n2');
  assert.is(r2.epoch, r.epoch + 1);
  const planned = new Set(RP.plannedTransfers(r2, N).map((t) => RP.transferKey(t.partition, t.target)));
  for (const k of r2.done) assert.ok(planned.has(k));
  assert.ok(r2.done.length > 0);
});

test('a leave moves the leaver out: after commit it owns nothing', () => {
  let r = RP.propose(RP.propose(RP.provisional('n1', 6), ids(5), N, 'n1'), ids(4), N, 'n1');
  for (const t of RP.pendingTransfers(r, N)) {
    assert.not.equal(t.target, 'n5');
    r = RP.markDone(r, t.partition, t.target, N);
  }
  const c = RP.commit(r, N)!;
  assert.not.ok(c.current.owners.includes('n5'));
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  applyPlan,
  hintsToDeliver,
  placementOf,
  planHandoff,
  transfersBySource,
  transfersOf,
  type HintRef,
  type Placement,
} from '../../src/core/handoff.js';
import { claimInitial, rebalance } from '../../src/core/claim.js';
import { makeRing, preferenceList, type Ring } from '../../src/core/ring.js';
import { check } from '../helpers/seed.js';

const sameSets = (a: Placement, b: Placement): boolean =>
  a.length === b.length && a.every((xs, p) => xs.length === b[p]!.length && xs.every((x) => b[p]!.includes(x)));

/** Two rings of one size over overlapping node sets. */
const arbRingPair: fc.Arbitrary<[Ring, Ring]> = fc
  .record({ bits: fc.integer({ min: 1, max: 7 }), s: fc.integer({ min: 1, max: 10 }) })
  .chain(({ bits, s }) => {
    const owners = fc.array(fc.integer({ min: 0, max: s - 1 }), { minLength: 2 ** bits, maxLength: 2 ** bits });
    return fc.tuple(owners, owners);
  })
  .map(([a, b]) => [makeRing(a.map((i) => `n${i}`)), makeRing(b.map((i) => `n${i}`), 2)]);

test('applying the plan to the old placement yields the new placement', () => {
  check(
    fc.property(arbRingPair, fc.integer({ min: 1, max: 5 }), ([before, after], n) => {
      const plan = planHandoff(before, after, n);
      assert.ok(sameSets(applyPlan(placementOf(before, n), plan), placementOf(after, n)));
      assert.is(plan.fromVersion, before.version);
      assert.is(plan.toVersion, after.version);
    }),
    300,
  );
});

test('every new replica is copied from a node that held the partition; leaving nodes are exactly the dropped ones', () => {
  check(
    fc.property(arbRingPair, fc.integer({ min: 1, max: 5 }), ([before, after], n) => {
      const plan = planHandoff(before, after, n);
      let last = -1;
      for (const h of plan.partitions) {
        assert.ok(h.partition > last, 'partitions ascend');
        last = h.partition;
        const was = preferenceList(before, h.partition, n);
        const now = preferenceList(after, h.partition, n);
        assert.ok(h.transfers.length + h.leaving.length > 0, 'only changed partitions are listed');
        for (const t of h.transfers) {
          assert.is(t.partition, h.partition);
          assert.ok(was.includes(t.source), 'the source held the data');
          assert.ok(now.includes(t.target) && !was.includes(t.target), 'the target is a new replica');
        }
        assert.equal(
          h.transfers.map((t) => t.target),
          now.filter((x) => !was.includes(x)),
        );
        assert.equal([...h.leaving], was.filter((x) => !now.includes(x)));
      }
    }),
    300,
  );
});

test('equal placements need no transfer, whatever the versions', () => {
  check(
    fc.property(arbRingPair, fc.integer({ min: 1, max: 5 }), ([ring], n) => {
      assert.equal(planHandoff(ring, ring, n).partitions, []);
      const bumped = makeRing(ring.owners, ring.version + 3);
      assert.equal(planHandoff(ring, bumped, n).partitions, []);
    }),
  );
});

test('the source is the old primary when it is up, else the first old replica that is up', () => {
  check(
    fc.property(arbRingPair, fc.integer({ min: 1, max: 5 }), fc.func(fc.boolean()), ([before, after], n, up) => {
      const isUp = (x: string): boolean => up(x);
      for (const t of transfersOf(planHandoff(before, after, n, isUp))) {
        const was = preferenceList(before, t.partition, n);
        const expected = was.find(isUp) ?? was[0];
        assert.is(t.source, expected);
        if (isUp(was[0]!)) assert.is(t.source, before.owners[t.partition]);
      }
    }),
  );
});

test('a join hands the new node its replicas from their old primaries and frees one old replica per new one', () => {
  const nodes = Array.from({ length: 4 }, (_, i) => ({ id: `n${i}` }));
  const before = claimInitial(6, nodes);
  const after = rebalance(before, [...nodes, { id: 'n4' }]);
  const plan = planHandoff(before, after, 3);
  const transfers = transfersOf(plan);
  assert.ok(transfers.every((t) => t.target === 'n4'), 'only the new node receives data');
  assert.ok(transfers.every((t) => t.source === before.owners[t.partition]), 'every source is the old primary');
  // A clean layout: n4's 12 partitions each sit in 3 preference lists.
  assert.is(transfers.length, 3 * 12);
  assert.ok(plan.partitions.every((h) => h.leaving.length === h.transfers.length));
  const bySource = transfersBySource(plan);
  assert.equal([...bySource.keys()], ['n0', 'n1', 'n2', 'n3']);
  assert.is([...bySource.values()].reduce((a, ts) => a + ts.length, 0), transfers.length);
  assert.ok(sameSets(applyPlan(placementOf(before, 3), plan), placementOf(after, 3)));
});

test('rings of different sizes cannot be planned', () => {
  assert.throws(() => planHandoff(makeRing(['a', 'b']), makeRing(['a', 'b', 'a', 'b']), 2), RangeError);
});

interface Hint extends HintRef {
  readonly key: string;
}

const arbHints = fc.array(
  fc.record({ target: fc.constantFrom('a', 'b', 'c', 'd'), partition: fc.integer({ min: 0, max: 15 }), key: fc.string({ maxLength: 4 }) }),
  { maxLength: 60 },
);

test('hintsToDeliver groups the hints of up targets, in target then partition order, each hint once', () => {
  check(
    fc.property(arbHints, fc.subarray(['a', 'b', 'c', 'd']), (hints: Hint[], upList) => {
      const isUp = (x: string): boolean => upList.includes(x);
      const groups = hintsToDeliver(hints, isUp);
      const targets = groups.map((g) => g.target);
      assert.equal(targets, [...targets].sort());
      assert.ok(targets.every(isUp));
      const delivered = groups.flatMap((g) => g.hints);
      assert.is(delivered.length, hints.filter((h) => isUp(h.target)).length);
      for (const h of hints) if (isUp(h.target)) assert.ok(delivered.includes(h));
      for (const g of groups) {
        assert.ok(g.hints.length > 0);
        assert.ok(g.hints.every((h) => h.target === g.target));
        for (let i = 1; i < g.hints.length; i++) assert.ok(g.hints[i - 1]!.partition <= g.hints[i]!.partition);
      }
    }),
  );
});

test('with a tie-break, the delivery order does not depend on the order hints arrived in', () => {
  const byKey = (a: Hint, b: Hint): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  check(
    fc.property(arbHints, fc.nat(), (hints: Hint[], rot) => {
      const shuffled = hints.map((_, i) => hints[(i + rot) % hints.length]!).reverse();
      const a = hintsToDeliver(hints, () => true, byKey);
      const b = hintsToDeliver(shuffled, () => true, byKey);
      const view = (gs: typeof a): string[][] => gs.map((g) => [g.target, ...g.hints.map((h) => `${h.partition}:${h.key}`)]);
      assert.equal(view(a), view(b));
    }),
  );
  assert.equal(hintsToDeliver([], () => true), []);
  assert.equal(hintsToDeliver([{ target: 'x', partition: 1 }], () => false), []);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  claim,
  claimInitial,
  defaultExtraMoves,
  movedPartitions,
  nodesInvalid,
  quotas,
  rebalance,
  rebalanceReport,
  restripe,
  restripeReport,
  targets,
  type NodeSpec,
} from '../../src/core/claim.js';
import {
  makeRing,
  ownershipCounts,
  preferenceList,
  replicaLoad,
  tailViolations,
  type Ring,
} from '../../src/core/ring.js';
import { check } from '../helpers/seed.js';

const id = (i: number): string => `n${String(i).padStart(2, '0')}`;
const equalNodes = (s: number): NodeSpec[] => Array.from({ length: s }, (_, i) => ({ id: id(i) }));
const count = (ring: Ring, node: string): number => ownershipCounts(ring).get(node) ?? 0;

/** Ring sizes: mostly small, now and then up to 4096. */
const arbBits = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 3, max: 8 }) },
  { weight: 1, arbitrary: fc.integer({ min: 9, max: 12 }) },
);
const arbWeighted = (maxS: number): fc.Arbitrary<NodeSpec[]> =>
  fc
    .array(fc.double({ min: 0.25, max: 8, noNaN: true }), { minLength: 1, maxLength: maxS })
    .map((ws) => ws.map((weight, i) => ({ id: id(i), weight })));

/** count is ⌊quota⌋ or ⌈quota⌉ (float noise tolerated around exact integers). */
const assertBalanced = (ring: Ring, nodes: readonly NodeSpec[]): void => {
  const quota = quotas(ring.partitionCount, nodes);
  let sum = 0;
  for (const x of nodes) {
    const c = count(ring, x.id);
    const want = quota.get(x.id)!;
    sum += c;
    assert.ok(c >= Math.floor(want - 1e-9) && c <= Math.ceil(want + 1e-9), `${x.id} owns ${c}, quota ${want}`);
  }
  assert.is(sum, ring.partitionCount, 'only listed nodes own partitions');
};

const spread = (xs: Iterable<number>): number => {
  const a = [...xs];
  return Math.max(...a) - Math.min(...a);
};

/** The cases where the initial layout is proven clean (see claim.ts). */
const provablyClean = (q: number, s: number, n: number): boolean => {
  if (q < s) return true; // every node owns at most one partition
  const k = Math.floor(q / s);
  const r = q % s;
  const w = Math.min(n, q);
  if (r === 0) return s >= w;
  return s - Math.ceil((s - r) / k) >= w || s >= 2 * n - 1;
};

test('invalid clusters are refused with a reason and a RangeError', () => {
  assert.is(nodesInvalid(equalNodes(3)), null);
  assert.ok(nodesInvalid([])?.includes('at least one'));
  assert.ok(nodesInvalid([{ id: 'a' }, { id: 'a' }])?.includes('duplicate'));
  assert.ok(nodesInvalid([{ id: '' }])?.includes('non-empty'));
  assert.ok(nodesInvalid([{ id: 'a', weight: 0 }])?.includes('positive'));
  assert.ok(nodesInvalid([{ id: 'a', weight: Number.NaN }])?.includes('positive'));
  assert.ok(nodesInvalid([{ id: 'a', weight: Infinity }])?.includes('positive'));
  assert.throws(() => claimInitial(6, []), RangeError);
  assert.throws(() => claimInitial(0, equalNodes(2)), RangeError);
  assert.throws(() => claimInitial(13, equalNodes(2)), RangeError);
  assert.throws(() => rebalance(claimInitial(4, equalNodes(2)), [{ id: 'x', weight: -1 }]), RangeError);
  assert.throws(() => rebalance(claimInitial(4, equalNodes(2)), equalNodes(3), { maxExtraMoves: -1 }), RangeError);
  assert.throws(() => claim(5, equalNodes(2), claimInitial(4, equalNodes(2))), RangeError);
  assert.throws(() => claimInitial(4, equalNodes(2), { n: 0 }), RangeError);
  assert.throws(() => rebalance(claimInitial(4, equalNodes(2)), equalNodes(3), { n: 1.5 }), RangeError);
});

test('targets are ⌊quota⌋ or ⌈quota⌉, sum to Q, and keep ⌈⌉ where a node already has it', () => {
  check(
    fc.property(arbBits, arbWeighted(40), (bits, nodes) => {
      const q = 2 ** bits;
      const t = targets(q, nodes);
      const quota = quotas(q, nodes);
      let sum = 0;
      for (const x of nodes) {
        const c = t.get(x.id)!;
        sum += c;
        assert.ok(c >= Math.floor(quota.get(x.id)! - 1e-9) && c <= Math.ceil(quota.get(x.id)! + 1e-9));
      }
      assert.is(sum, q);
    }),
    300,
  );
  // 64 over 5 equal nodes is 12.8 each: the four that already own 16 keep 13.
  const t = targets(64, [...equalNodes(4), { id: 'a-new' }], new Map(equalNodes(4).map((x) => [x.id, 16])));
  assert.is(t.get('a-new'), 12);
  assert.equal(
    equalNodes(4).map((x) => t.get(x.id)),
    [13, 13, 13, 13],
  );
});

test('the initial claim is a function of its inputs: same ring for the same nodes in any order', () => {
  check(
    fc.property(arbBits, arbWeighted(40), fc.integer({ min: 1, max: 5 }), fc.nat(), (bits, nodes, n, rot) => {
      const a = claimInitial(bits, nodes, { n });
      const shuffled = nodes.map((_, i) => nodes[(i + rot) % nodes.length]!).reverse();
      const b = claimInitial(bits, shuffled, { n });
      assert.equal([...a.owners], [...b.owners]);
      assert.is(a.version, 1);
    }),
    25,
  );
});

test('the initial claim is balanced: within one of Q·w/Σw, and max − min ≤ 1 with equal weights', () => {
  check(
    fc.property(arbBits, arbWeighted(40), fc.integer({ min: 1, max: 5 }), (bits, nodes, n) => {
      assertBalanced(claimInitial(bits, nodes, { n }), nodes);
    }),
    60,
  );
  check(
    fc.property(arbBits, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), (bits, s, n) => {
      const ring = claimInitial(bits, equalNodes(s), { n });
      const counts = equalNodes(s).map((x) => count(ring, x.id));
      assert.ok(spread(counts) <= 1);
      // With Q ≥ S every node owns something.
      if (2 ** bits >= s) assert.is(ring.nodes.length, s);
    }),
    150,
  );
});

test('every preference list holds n distinct nodes whenever at least n nodes own partitions', () => {
  check(
    fc.property(arbBits, arbWeighted(40), fc.integer({ min: 1, max: 5 }), (bits, nodes, n) => {
      const ring = claimInitial(bits, nodes, { n });
      const owners = ring.nodes.length;
      for (let p = 0; p < ring.partitionCount; p++) {
        const list = preferenceList(ring, p, n);
        assert.is(new Set(list).size, list.length);
        assert.is(list.length, Math.min(n, owners));
      }
    }),
    50,
  );
});

test('the initial layout has zero tail violations where that is proven, and at most n − 1 otherwise (equal weights, S ≥ n)', () => {
  check(
    fc.property(arbBits, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), (bits, s, n) => {
      const q = 2 ** bits;
      const ring = claimInitial(bits, equalNodes(s), { n });
      const v = tailViolations(ring, n);
      if (provablyClean(q, s, n)) assert.is(v, 0, `Q=${q} S=${s} n=${n}`);
      else if (s >= n) assert.ok(v <= n - 1, `Q=${q} S=${s} n=${n}: ${v} violations`);
    }),
    300,
  );
  // The arithmetic floor: 64 over 3 gives one node 22 partitions, and 22 gaps of ≥ 3 need 66 > 64.
  const ring = claimInitial(6, equalNodes(3));
  const v = tailViolations(ring, 3);
  assert.ok(v >= 1 && v <= 2, `Q=64 S=3: ${v}`);
  // Q mod S = 0 is the plain stripe p ↦ p mod S.
  assert.equal(
    [...claimInitial(6, equalNodes(4)).owners],
    Array.from({ length: 64 }, (_, p) => id(p % 4)),
  );
});

test('replica load is n × ownership when nothing repeats, and off by at most (n − 1) per violation', () => {
  check(
    fc.property(arbBits, arbWeighted(30), fc.integer({ min: 1, max: 5 }), (bits, nodes, n) => {
      const ring = claimInitial(bits, nodes, { n });
      if (ring.nodes.length < n) return;
      const v = tailViolations(ring, n);
      const load = replicaLoad(ring, n);
      const counts = ownershipCounts(ring);
      for (const x of ring.nodes) {
        const diff = Math.abs(load.get(x)! - n * counts.get(x)!);
        if (v === 0) assert.is(diff, 0);
        else assert.ok(diff <= (n - 1) * v);
      }
    }),
    50,
  );
  // Equal weights and a clean layout: loads differ by at most n.
  check(
    fc.property(arbBits, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), (bits, s, n) => {
      const ring = claimInitial(bits, equalNodes(s), { n });
      if (!provablyClean(2 ** bits, s, n) || ring.nodes.length < n) return;
      assert.ok(spread(replicaLoad(ring, n).values()) <= n);
    }),
    100,
  );
});

test('a join moves the new node its target and at most 4 more, adds no tail violation, keeps balance', () => {
  check(
    fc.property(arbBits, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), (bits, s, n) => {
      const q = 2 ** bits;
      const before = claimInitial(bits, equalNodes(s), { n });
      const nodes = [...equalNodes(s), { id: 'joiner' }];
      const r = rebalanceReport(before, nodes, { n });
      assertBalanced(r.ring, nodes);
      const gained = count(r.ring, 'joiner');
      assert.is(r.forcedMoves, gained, 'the forced moves are exactly the new node’s share');
      assert.ok(gained === Math.floor(q / (s + 1)) || gained === Math.ceil(q / (s + 1)));
      assert.is(r.moves, movedPartitions(before, r.ring).length);
      assert.ok(r.moves <= Math.ceil(q / (s + 1)) + 4, `${r.moves} moves`);
      // Every move that does not go to the new node is counted as extra.
      const toOthers = movedPartitions(before, r.ring).filter((p) => r.ring.owners[p] !== 'joiner').length;
      assert.ok(toOthers <= r.extraMoves && r.extraMoves <= 4);
      if (s >= n) assert.ok(tailViolations(r.ring, n) <= tailViolations(before, n));
      // A clean result with counts k or k+1 carries replica loads n·k or n·(k+1).
      if (tailViolations(r.ring, n) === 0 && r.ring.nodes.length >= n) assert.ok(spread(replicaLoad(r.ring, n).values()) <= n);
      if (r.moves > 0) assert.is(r.ring.version, before.version + 1);
    }),
    150,
  );
});

test('a leave moves exactly the leaver’s partitions plus at most 4 + ⌈c·min(1, 2(n−1)/S)⌉ repair moves', () => {
  check(
    fc.property(arbBits, fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (bits, s, n, pick) => {
      const before = claimInitial(bits, equalNodes(s), { n });
      const leaver = id(pick % s);
      const c = count(before, leaver);
      const nodes = equalNodes(s).filter((x) => x.id !== leaver);
      const r = rebalanceReport(before, nodes, { n });
      assertBalanced(r.ring, nodes);
      assert.is(count(r.ring, leaver), 0);
      assert.is(r.forcedMoves, c);
      assert.ok(r.extraMoves >= 0 && r.extraMoves <= defaultExtraMoves(c, s - 1, n));
      assert.is(r.moves, c + r.extraMoves);
      const others = movedPartitions(before, r.ring).filter((p) => before.owners[p] !== leaver).length;
      assert.is(others, r.extraMoves, 'every move of a staying node’s partition is counted as extra');
    }),
    50,
  );
});

test('with maxExtraMoves 0 a rebalance makes only the moves balance forces', () => {
  check(
    fc.property(arbBits, arbWeighted(20), arbWeighted(20), (bits, from, to) => {
      const before = claimInitial(bits, from);
      const r = rebalanceReport(before, to, { maxExtraMoves: 0 });
      assertBalanced(r.ring, to);
      assert.is(r.extraMoves, 0);
      assert.is(r.moves, r.forcedMoves);
      // The forced count is the minimum: departed nodes' partitions plus each surplus over target.
      const t = targets(before.partitionCount, to, ownershipCounts(before));
      let min = 0;
      for (const [node, c] of ownershipCounts(before)) min += Math.max(0, c - (t.get(node) ?? 0));
      assert.is(r.forcedMoves, min);
    }),
    25,
  );
});

test('a weight change moves partitions from the lightened to the heavier node only as balance needs', () => {
  const nodes = equalNodes(4);
  const before = claimInitial(8, nodes);
  const heavier = nodes.map((x) => (x.id === id(0) ? { id: x.id, weight: 2 } : x));
  const r = rebalanceReport(before, heavier, { maxExtraMoves: 0 });
  assertBalanced(r.ring, heavier);
  // 256·2/5 = 102.4 and 256/5 = 51.2: the one ⌈⌉ goes to a node that already owns more than 52.
  assert.is(count(r.ring, id(0)), 102);
  assert.is(r.moves, 102 - 64);
  assert.ok(movedPartitions(before, r.ring).every((p) => r.ring.owners[p] === id(0)));
});

test('random histories of joins, leaves and weight changes stay balanced, deterministic and within the move bounds', () => {
  type Op = { kind: 'join' | 'leave' | 'weight'; pick: number; weight: number };
  const arbOp: fc.Arbitrary<Op> = fc.record({
    kind: fc.constantFrom('join' as const, 'leave' as const, 'weight' as const),
    pick: fc.nat(),
    weight: fc.double({ min: 0.5, max: 4, noNaN: true }),
  });
  check(
    fc.property(fc.integer({ min: 3, max: 9 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.array(arbOp, { maxLength: 6 }), (bits, s, n, ops) => {
      let nodes: NodeSpec[] = equalNodes(s);
      let ring = claim(bits, nodes, undefined, { n });
      let fresh = 100;
      for (const op of ops) {
        if (op.kind === 'join') nodes = [...nodes, { id: `j${fresh++}`, weight: op.weight }];
        else if (op.kind === 'leave' && nodes.length > 1) nodes = nodes.filter((_, i) => i !== op.pick % nodes.length);
        else nodes = nodes.map((x, i) => (i === op.pick % nodes.length ? { id: x.id, weight: op.weight } : x));
        const departed = ring.owners.filter((o) => !nodes.some((x) => x.id === o)).length;
        const r = rebalanceReport(ring, nodes, { n });
        assertBalanced(r.ring, nodes);
        assert.ok(r.extraMoves <= defaultExtraMoves(departed, nodes.length, n));
        assert.is(r.moves, movedPartitions(ring, r.ring).length);
        assert.equal([...claim(bits, nodes.slice().reverse(), ring, { n }).owners], [...r.ring.owners], 'deterministic');
        if (r.moves === 0) assert.ok(r.ring === ring, 'no change keeps the ring and its version');
        ring = r.ring;
      }
    }),
    30,
  );
});

test('restripe gives a fresh claim’s clean layout, rotated and relabelled to keep what it can', () => {
  check(
    fc.property(fc.integer({ min: 3, max: 8 }), fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (bits, s, n, pick) => {
      const q = 2 ** bits;
      const before = claimInitial(bits, equalNodes(s), { n });
      const nodes = equalNodes(s).filter((_, i) => i !== pick % s);
      const r = restripeReport(before, nodes, { n });
      assertBalanced(r.ring, nodes);
      if (provablyClean(q, s - 1, n)) assert.is(tailViolations(r.ring, n), 0);
      assert.is(r.moves, movedPartitions(before, r.ring).length);
      assert.ok(r.moves >= r.forcedMoves);
      assert.equal([...restripe(before, nodes.slice().reverse(), { n }).owners], [...r.ring.owners], 'deterministic');
      // A ring that already is the clean layout stays as it is.
      assert.ok(restripe(before, equalNodes(s), { n }) === before);
    }),
    40,
  );
  // 5 → 4 nodes, n = 3: rebalance must repeat nodes; restripe is clean, at a price in moves.
  const before = claimInitial(8, equalNodes(5));
  const nodes = equalNodes(5).filter((x) => x.id !== id(2));
  const cheap = rebalanceReport(before, nodes);
  const clean = restripeReport(before, nodes);
  assert.is(tailViolations(clean.ring, 3), 0);
  assert.ok(tailViolations(cheap.ring, 3) > 0);
  assert.ok(clean.moves > cheap.moves);
});

test('rebalancing onto the same nodes changes nothing', () => {
  check(
    fc.property(arbBits, arbWeighted(30), (bits, nodes) => {
      const ring = claimInitial(bits, nodes);
      assert.ok(rebalance(ring, nodes) === ring);
    }),
    25,
  );
});

test('joins from a single node up to 16 keep balance and move about Q/(S+1) each time', () => {
  let ring = makeRing(new Array<string>(1024).fill(id(0)));
  const nodes: NodeSpec[] = [{ id: id(0) }];
  for (let s = 1; s < 16; s++) {
    nodes.push({ id: id(s) });
    const r = rebalanceReport(ring, nodes);
    assertBalanced(r.ring, nodes);
    assert.ok(r.moves <= Math.ceil(1024 / (s + 1)) + 4, `join ${s + 1}: ${r.moves} moves`);
    ring = r.ring;
  }
  assert.is(ring.version, 16);
  assert.ok(tailViolations(ring, 3) === 0, `${tailViolations(ring, 3)} violations after 15 joins`);
});

test.run();

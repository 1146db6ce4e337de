import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  countViolations,
  makeRing,
  ownerOf,
  partitionOfHash,
  partitionOfHash64,
  partitionStartHi32,
  partitionsOf,
  preferenceList,
  qBitsInvalid,
  replicaLoad,
  ringInvalid,
  singleton,
  sloppyPreferenceList,
  tailViolations,
  walkFrom,
  withOwners,
  type Ring,
} from '../../src/core/ring.js';
import { check } from '../helpers/seed.js';

/** A ring of 2^qBits partitions with owners drawn from `nodes` ids. */
const arbRing = (maxBits = 8): fc.Arbitrary<Ring> =>
  fc
    .record({ bits: fc.integer({ min: 1, max: maxBits }), s: fc.integer({ min: 1, max: 12 }) })
    .chain(({ bits, s }) => fc.array(fc.integer({ min: 0, max: s - 1 }), { minLength: 2 ** bits, maxLength: 2 ** bits }))
    .map((xs) => makeRing(xs.map((i) => `n${i}`)));

/** Reference preference list: the plain clockwise walk, no caches. */
const naivePreference = (ring: Ring, p: number, n: number): string[] => {
  const out: string[] = [];
  for (let i = 0; i < ring.partitionCount && out.length < n; i++) {
    const o = ring.owners[(p + i) % ring.partitionCount]!;
    if (!out.includes(o)) out.push(o);
  }
  return out;
};

test('qBits outside 1..12 and malformed owner maps are refused with a reason and a RangeError', () => {
  assert.is(qBitsInvalid(6), null);
  assert.is(qBitsInvalid(1), null);
  assert.is(qBitsInvalid(12), null);
  assert.ok(qBitsInvalid(0)?.includes('1..12'));
  assert.ok(qBitsInvalid(13)?.includes('1..12'));
  assert.ok(qBitsInvalid(2.5)?.includes('integer'));
  assert.ok(ringInvalid(['a', 'b', 'c'], 1)?.includes('power of two'));
  assert.ok(ringInvalid(['a'], 1)?.includes('power of two'));
  assert.ok(ringInvalid(new Array<string>(8192).fill('a'), 1)?.includes('1..12'));
  assert.ok(ringInvalid(['a', ''], 1)?.includes('partition 1'));
  assert.ok(ringInvalid(['a', 'b'], -1)?.includes('version'));
  assert.throws(() => makeRing(['a', 'b', 'c']), RangeError);
  assert.throws(() => singleton('a', 0), RangeError);
  assert.throws(() => singleton('a', 13), RangeError);
  assert.is(singleton('a').partitionCount, 64);
  assert.is(singleton('a', 12).partitionCount, 4096);
});

test('a key lands in the partition named by the top qBits of its hash, in both hash forms', () => {
  check(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (bits, h) => {
      const ring = singleton('a', bits);
      const hi32 = Number(h >> 32n);
      const p = partitionOfHash(ring, hi32);
      assert.ok(p >= 0 && p < ring.partitionCount);
      assert.is(p, Number(h >> BigInt(64 - bits)));
      assert.is(partitionOfHash64(ring, h), p);
      // Partitions are contiguous hash ranges starting at partitionStartHi32.
      assert.ok(partitionStartHi32(ring, p) <= hi32);
      if (p + 1 < ring.partitionCount) assert.ok(hi32 < partitionStartHi32(ring, p + 1));
    }),
    300,
  );
  const ring = singleton('a', 6);
  assert.is(partitionOfHash(ring, 0), 0);
  assert.is(partitionOfHash(ring, 0xffffffff), 63);
  assert.is(partitionOfHash(ring, 0x04000000), 1);
  assert.is(partitionOfHash64(ring, -1n), 63, 'a negative bigint is read as its u64 pattern');
});

test('partitionOfHash is monotone in the hash', () => {
  check(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (bits, a, b) => {
      const ring = singleton('x', bits);
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      assert.ok(partitionOfHash(ring, lo) <= partitionOfHash(ring, hi));
    }),
  );
});

test('a preference list is the clockwise walk: owner first, n distinct nodes, prefix-closed in n', () => {
  check(
    fc.property(arbRing(), fc.integer({ min: 1, max: 6 }), fc.nat(), (ring, n, pick) => {
      const p = pick % ring.partitionCount;
      const list = preferenceList(ring, p, n);
      assert.equal([...list], naivePreference(ring, p, n));
      assert.is(list[0], ownerOf(ring, p));
      assert.is(new Set(list).size, list.length);
      assert.is(list.length, Math.min(n, ring.nodes.length));
      assert.equal([...preferenceList(ring, p, n + 1)].slice(0, list.length), [...list]);
      assert.equal([...walkFrom(ring, p)], naivePreference(ring, p, ring.nodes.length));
    }),
    200,
  );
});

test('preference lists are cached: the same readonly array comes back', () => {
  const ring = makeRing(['a', 'b', 'c', 'd', 'a', 'b', 'c', 'd']);
  const first = preferenceList(ring, 3, 3);
  assert.ok(preferenceList(ring, 3, 3) === first);
  assert.ok(Object.isFrozen(first));
  assert.equal([...first], ['d', 'a', 'b']);
  assert.throws(() => preferenceList(ring, 0, 0), RangeError);
});

test('with every node up the sloppy list is the preference list, without hints', () => {
  check(
    fc.property(arbRing(), fc.integer({ min: 1, max: 5 }), fc.nat(), (ring, n, pick) => {
      const p = pick % ring.partitionCount;
      const sloppy = sloppyPreferenceList(ring, p, n, () => true);
      assert.equal(
        sloppy.map((r) => r.node),
        [...preferenceList(ring, p, n)],
      );
      assert.ok(sloppy.every((r) => r.hintFor === undefined));
    }),
  );
});

test('the sloppy list takes the first n healthy nodes of the walk; each fallback names a distinct down primary', () => {
  check(
    fc.property(arbRing(), fc.integer({ min: 1, max: 5 }), fc.nat(), fc.func(fc.boolean()), (ring, n, pick, up) => {
      const p = pick % ring.partitionCount;
      const isUp = (x: string): boolean => up(x);
      const sloppy = sloppyPreferenceList(ring, p, n, isUp);
      const primaries = preferenceList(ring, p, n);
      const down = primaries.filter((x) => !isUp(x));
      const healthy = walkFrom(ring, p).filter(isUp);
      // The first min(n, S) healthy nodes of the walk (fewer when fewer are up).
      assert.equal(
        sloppy.map((r) => r.node),
        healthy.slice(0, primaries.length),
      );
      assert.ok(sloppy.length <= n);
      assert.ok(sloppy.every((r) => isUp(r.node)));
      const fallbacks = sloppy.filter((r) => !primaries.includes(r.node));
      assert.ok(fallbacks.every((r) => r.hintFor !== undefined));
      assert.equal(
        fallbacks.map((r) => r.hintFor),
        down.slice(0, fallbacks.length),
      );
      assert.ok(sloppy.filter((r) => primaries.includes(r.node)).every((r) => r.hintFor === undefined));
    }),
    300,
  );
});

test('sloppy list example: the fallback for a down primary is the next healthy node of the walk', () => {
  const ring = makeRing(['a', 'b', 'c', 'd', 'e', 'a', 'b', 'c']);
  const list = sloppyPreferenceList(ring, 0, 3, (x) => x !== 'b');
  assert.equal(list, [{ node: 'a' }, { node: 'c' }, { node: 'd', hintFor: 'b' }]);
  assert.equal(sloppyPreferenceList(ring, 0, 3, () => false), []);
  // All up: the cached list comes back, the same array each time.
  const healthy = sloppyPreferenceList(ring, 0, 3, () => true);
  assert.equal(healthy, [{ node: 'a' }, { node: 'b' }, { node: 'c' }]);
  assert.ok(sloppyPreferenceList(ring, 0, 3, () => true) === healthy);
  assert.throws(() => sloppyPreferenceList(ring, 0, 0, () => true), RangeError);
});

test('withOwners returns the same ring when nothing changes and bumps the version when something does', () => {
  const ring = makeRing(['a', 'b', 'a', 'b'], 7);
  assert.ok(withOwners(ring, ['a', 'b', 'a', 'b']) === ring);
  const next = withOwners(ring, ['a', 'b', 'b', 'b']);
  assert.is(next.version, 8);
  assert.equal([...next.nodes], ['a', 'b']);
  assert.equal([...partitionsOf(next, 'b')], [1, 2, 3]);
  assert.throws(() => withOwners(ring, ['a', 'b']), RangeError);
});

test('replica load counts each partition once per node in its preference list', () => {
  check(
    fc.property(arbRing(6), fc.integer({ min: 1, max: 4 }), (ring, n) => {
      const load = replicaLoad(ring, n);
      const total = [...load.values()].reduce((a, b) => a + b, 0);
      assert.is(total, ring.partitionCount * Math.min(n, ring.nodes.length));
    }),
  );
});

test('replica load is n × owned partitions, off by at most n − 1 per tail violation (any ring, n ≤ Q)', () => {
  check(
    fc.property(arbRing(7), fc.integer({ min: 1, max: 5 }), (ring, n) => {
      if (n > ring.partitionCount) return;
      const v = tailViolations(ring, n);
      const load = replicaLoad(ring, n);
      for (const x of ring.nodes) {
        const owned = partitionsOf(ring, x).length;
        const diff = Math.abs(load.get(x)! - n * owned);
        assert.ok(diff <= (n - 1) * v, `${x}: load ${load.get(x)}, owns ${owned}, ${v} violations`);
        if (v === 0) assert.is(diff, 0);
      }
    }),
    200,
  );
});

test('tail violations: windows of n consecutive partitions (cyclic) that repeat a node', () => {
  const stripe = makeRing(Array.from({ length: 64 }, (_, p) => `n${p % 4}`));
  assert.is(tailViolations(stripe, 3), 0);
  assert.is(tailViolations(stripe, 4), 0);
  assert.is(tailViolations(stripe, 5), 64, 'with 4 nodes every window of 5 repeats one');
  assert.is(tailViolations(stripe, 1), 0);
  // p mod 3 over 64 partitions: the wrap puts n0 at 63 next to n0 at 0.
  const wrap = makeRing(Array.from({ length: 64 }, (_, p) => `n${p % 3}`));
  assert.is(tailViolations(wrap, 3), 2, 'windows starting at 62 and 63 both hold n0 twice');
  assert.is(countViolations(['a', 'b', 'a', 'c'], 3), 2);
  check(
    fc.property(arbRing(6), fc.integer({ min: 1, max: 5 }), (ring, n) => {
      // Brute force over windows, as the definition reads.
      let expected = 0;
      for (let s = 0; s < ring.partitionCount; s++) {
        const w = Array.from({ length: Math.min(n, ring.partitionCount) }, (_, i) => ring.owners[(s + i) % ring.partitionCount]);
        if (new Set(w).size < w.length) expected++;
      }
      assert.is(tailViolations(ring, n), expected);
    }),
  );
});

test.run();

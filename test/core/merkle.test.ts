import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import * as M from '../../src/core/merkle.js';
import { check } from '../helpers/seed.js';

// Test-side hashes: the shell would use xxh3-64; any well-mixed 64-bit
// function of (key, version) exercises the tree the same way.
const fmix = (x: number): number => {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};
const keyHash = (key: number): M.Digest => ({ hi: fmix(key ^ 0x5bd1e995), lo: fmix(key + 0x27d4eb2f) });
const itemHash = (key: number, version: number): M.Digest => ({
  hi: fmix(fmix(key ^ 0x1b873593) ^ Math.imul(version, 0x9e3779b1)),
  lo: fmix(fmix(key + 0x68e31da4) ^ (version + 0x7feb352d)),
});

const qBits = 6;
const segmentOfKey = (shape: M.MerkleShape, key: number): number => {
  const h = keyHash(key);
  return M.segmentOf(shape, qBits, h.hi, h.lo);
};

/** A replica's content: key → version. */
type Replica = ReadonlyMap<number, number>;

const treeOf = (shape: M.MerkleShape, replica: Replica): M.MerkleTree => {
  const t = M.empty(shape);
  for (const [k, v] of replica) {
    const h = itemHash(k, v);
    M.toggle(t, segmentOfKey(shape, k), h.hi, h.lo);
  }
  return t;
};

const itemsIn = (shape: M.MerkleShape, replica: Replica, segments: ReadonlySet<number>): M.SegmentItem[] =>
  [...replica]
    .filter(([k]) => segments.has(segmentOfKey(shape, k)))
    .map(([k, v]) => ({ key: String(k), ...itemHash(k, v) }));

const shapeArb = fc.record({ leafBits: fc.integer({ min: 0, max: 12 }), fanoutBits: fc.integer({ min: 1, max: 6 }) });

/** Two replicas that share a base and then diverge by puts, deletes and re-versions on either side. */
const replicasArb = fc
  .record({
    base: fc.dictionary(fc.integer({ min: 0, max: 5000 }).map(String), fc.integer({ min: 0, max: 3 }), { maxKeys: 300 }),
    editsA: fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: -1, max: 5 })), { maxLength: 20 }),
    editsB: fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: -1, max: 5 })), { maxLength: 20 }),
  })
  .map(({ base, editsA, editsB }) => {
    const start = new Map(Object.entries(base).map(([k, v]) => [Number(k), v] as const));
    const apply = (edits: readonly (readonly [number, number])[]): Map<number, number> => {
      const r = new Map(start);
      for (const [k, v] of edits) (v < 0 ? r.delete(k) : r.set(k, v));
      return r;
    };
    return { a: apply(editsA), b: apply(editsB) };
  });

test('segmentOf takes the leafBits bits right below the partition bits', () => {
  check(
    fc.property(
      fc.nat({ max: 0xffffffff }),
      fc.nat({ max: 0xffffffff }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: M.maxLeafBits }),
      (hi, lo, q, leafBits) => {
        const h = (BigInt(hi) << 32n) | BigInt(lo);
        const expected = Number((h >> BigInt(64 - q - leafBits)) & ((1n << BigInt(leafBits)) - 1n));
        assert.is(M.segmentOf({ leafBits, fanoutBits: 5 }, q, hi, lo), expected);
      },
    ),
    300,
  );
});

test('shapes: the default is 32×32, levels narrow toward the root, bad shapes are refused', () => {
  const t = M.empty();
  assert.is(t.depth, 2);
  assert.equal([M.levelSize(t, 0), M.levelSize(t, 1), M.levelSize(t, 2)], [1, 32, 1024]);
  const odd = M.empty({ leafBits: 10, fanoutBits: 3 });
  assert.is(odd.depth, 4);
  assert.equal([0, 1, 2, 3, 4].map((l) => M.levelSize(odd, l)), [1, 2, 16, 128, 1024]);
  assert.is(M.empty({ leafBits: 0, fanoutBits: 1 }).depth, 0);
  assert.ok(M.invalidShape({ leafBits: 25, fanoutBits: 5 }) !== null);
  assert.ok(M.invalidShape({ leafBits: 10, fanoutBits: 0 }) !== null);
  assert.throws(() => M.empty({ leafBits: -1, fanoutBits: 5 }), RangeError);
});

test('law: toggle is an involution (adding then removing an item restores the tree)', () => {
  check(
    fc.property(shapeArb, replicasArb, fc.nat(), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (shape, { a }, seg, hi, lo) => {
      const t = treeOf(shape, a);
      const before = M.clone(t);
      const s = seg % M.leafCount(shape);
      M.toggle(t, s, hi, lo);
      M.toggle(t, s, hi, lo);
      assert.ok(M.equals(t, before));
    }),
  );
});

test('law: incremental puts, re-versions and deletes equal a tree built from scratch', () => {
  check(
    fc.property(
      shapeArb,
      fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: -1, max: 6 })), { maxLength: 400 }),
      (shape, ops) => {
        const t = M.empty(shape);
        const state = new Map<number, number>();
        for (const [k, v] of ops) {
          const seg = segmentOfKey(shape, k);
          const old = state.get(k);
          if (v < 0) {
            if (old === undefined) continue;
            const h = itemHash(k, old);
            M.toggle(t, seg, h.hi, h.lo);
            state.delete(k);
          } else if (old === undefined) {
            const h = itemHash(k, v);
            M.toggle(t, seg, h.hi, h.lo);
            state.set(k, v);
          } else {
            const o = itemHash(k, old);
            const n = itemHash(k, v);
            M.replace(t, seg, o.hi, o.lo, n.hi, n.lo);
            state.set(k, v);
          }
        }
        const rebuilt = M.fromItems(
          shape,
          [...state].map(([k, v]) => ({ segment: segmentOfKey(shape, k), ...itemHash(k, v) })),
        );
        assert.ok(M.equals(t, rebuilt));
        // Every node is the XOR of all items below it; the root is the XOR of all items.
        let hi = 0;
        let lo = 0;
        for (const [k, v] of state) {
          const h = itemHash(k, v);
          hi = (hi ^ h.hi) >>> 0;
          lo = (lo ^ h.lo) >>> 0;
        }
        assert.equal(M.root(t), { hi, lo });
      },
    ),
  );
});

test('toggleBatch over little-endian u64 words equals toggling one by one', () => {
  check(
    fc.property(shapeArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })), { maxLength: 50 }), (shape, items) => {
      const one = M.empty(shape);
      const batch = M.empty(shape);
      const segments = new Uint32Array(items.length);
      const words = new Uint32Array(items.length * 2);
      items.forEach(([seg, hi, lo], i) => {
        const s = seg % M.leafCount(shape);
        M.toggle(one, s, hi, lo);
        segments[i] = s;
        words[2 * i] = lo;
        words[2 * i + 1] = hi;
      });
      M.toggleBatch(batch, segments, words);
      assert.ok(M.equals(one, batch));
    }),
  );
});

test('law: compare finds exactly the segments whose leaves differ, and is symmetric', () => {
  check(
    fc.property(shapeArb, replicasArb, (shape, { a, b }) => {
      const ta = treeOf(shape, a);
      const tb = treeOf(shape, b);
      const expected: number[] = [];
      for (let s = 0; s < M.leafCount(shape); s++) {
        const x = M.leaf(ta, s);
        const y = M.leaf(tb, s);
        if (x.hi !== y.hi || x.lo !== y.lo) expected.push(s);
      }
      assert.equal([...M.compare(ta, tb).segments], expected);
      assert.equal([...M.compare(tb, ta).segments], expected);
    }),
  );
});

test('law: the keys found differing are exactly the symmetric difference of the (key, version) sets', () => {
  check(
    fc.property(shapeArb, replicasArb, (shape, { a, b }) => {
      const { segments } = M.compare(treeOf(shape, a), treeOf(shape, b));
      const segs = new Set(segments);
      const d = M.diffItems(itemsIn(shape, a, segs), itemsIn(shape, b, segs));
      const pair = (k: number, v: number): string => `${k}@${v}`;
      const onlyA = [...a].filter(([k, v]) => b.get(k) !== v).map(([k, v]) => pair(k, v));
      const onlyB = [...b].filter(([k, v]) => a.get(k) !== v).map(([k, v]) => pair(k, v));
      const ofItems = (items: readonly M.SegmentItem[], r: Replica): string[] =>
        items.map((it) => pair(Number(it.key), r.get(Number(it.key))!)).sort();
      assert.equal(ofItems(d.onlyLocal, a), onlyA.sort());
      assert.equal(ofItems(d.onlyRemote, b), onlyB.sort());
      const keys = [...new Set([...onlyA, ...onlyB].map((p) => p.split('@')[0]!))].sort();
      assert.equal([...d.keys], keys);
    }),
    150,
  );
});

test('diffItems: a key at two versions is on both sides and listed once', () => {
  const x = { key: 'k', hi: 1, lo: 2 };
  const y = { key: 'k', hi: 3, lo: 4 };
  const same = { key: 'same', hi: 5, lo: 6 };
  const d = M.diffItems([x, same], [y, same]);
  assert.equal(d.onlyLocal, [x]);
  assert.equal(d.onlyRemote, [y]);
  assert.equal(d.keys, ['k']);
});

const bigReplica = (n: number): Map<number, number> => {
  const r = new Map<number, number>();
  for (let k = 0; k < n; k++) r.set(k, 1);
  return r;
};

test('cost: one difference visits at most 1 + depth × fanout nodes, for 1k keys and for 100k keys', () => {
  const shape = M.defaultShape;
  const bound = 1 + M.depthOf(shape) * 2 ** shape.fanoutBits;
  for (const n of [1000, 100_000]) {
    const a = bigReplica(n);
    const b = new Map(a);
    b.set(Math.floor(n / 2), 2);
    const ta = treeOf(shape, a);
    const tb = treeOf(shape, b);
    const r = M.compare(ta, tb);
    assert.is(r.segments.length, 1);
    assert.ok(r.visited <= bound, `n=${n}: visited ${r.visited} > ${bound}`);
    assert.is(M.compare(ta, M.clone(ta)).visited, 1, 'equal trees: only the root is compared');
  }
});

test('cost: visited nodes grow with the number of differences, not with the data size', () => {
  const n = 20_000;
  const a = bigReplica(n);
  const ta = treeOf(M.defaultShape, a);
  const perDiff = M.depthOf(M.defaultShape) * 2 ** M.defaultShape.fanoutBits;
  check(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 8 }), (changed) => {
      const tb = M.clone(ta);
      for (const k of changed) {
        const o = itemHash(k, 1);
        const m = itemHash(k, 2);
        M.replace(tb, segmentOfKey(M.defaultShape, k), o.hi, o.lo, m.hi, m.lo);
      }
      const r = M.compare(ta, tb);
      assert.ok(r.segments.length >= 1 && r.segments.length <= changed.length);
      assert.ok(r.visited <= 1 + changed.length * perDiff, `visited ${r.visited} for ${changed.length} differences`);
    }),
    50,
  );
});

test('the exchange is plain data: it survives a JSON round trip between two sides', () => {
  check(
    fc.property(replicasArb, ({ a, b }) => {
      const local = treeOf(M.defaultShape, a);
      const remote = treeOf(M.defaultShape, b);
      const wire = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
      let query: M.NodeQuery = M.rootQuery;
      let segments: readonly number[] = [];
      for (let round = 0; round <= local.depth; round++) {
        const reply = M.answer(remote, wire(query));
        assert.ok(E.isRight(reply));
        const next = M.step(local, wire((reply as E.Right<M.NodeDigests>).right));
        assert.ok(E.isRight(next));
        const s = (next as E.Right<M.DiffStep>).right;
        if (s._tag === 'Done') {
          segments = s.segments;
          break;
        }
        query = s.query;
      }
      assert.equal(segments, M.compare(local, remote).segments);
    }),
    50,
  );
});

test('childrenOf names every child of a node on the next level', () => {
  const t = M.empty({ leafBits: 10, fanoutBits: 3 });
  assert.equal(M.childrenOf(t, 0, 0), { level: 1, indices: [0, 1] });
  assert.equal(M.childrenOf(t, 1, 1).indices, [8, 9, 10, 11, 12, 13, 14, 15]);
});

test('bad queries and replies from a peer are refused with a reason', () => {
  const t = M.empty();
  const reason = (e: E.Either<string, unknown>): string => (E.isLeft(e) ? e.left : '');
  assert.match(reason(M.answer(t, { level: 3, indices: [0] })), /level/);
  assert.match(reason(M.answer(t, { level: 1, indices: [32] })), /index/);
  assert.match(reason(M.answer(t, { level: 1, indices: [2, 1] })), /ascending/);
  assert.match(reason(M.answer(t, { level: 1, indices: [0.5] })), /index/);
  assert.match(reason(M.step(t, { level: 1, indices: [0, 1], hi: [0], lo: [0, 0] })), /count/);
  assert.ok(E.isRight(M.answer(t, { level: 2, indices: [0, 1023] })));
});

test('law: deserialize(serialize(t)) = right(t)', () => {
  check(
    fc.property(shapeArb, replicasArb, (shape, { a }) => {
      const t = treeOf(shape, a);
      const back = M.deserialize(M.serialize(t));
      assert.ok(E.isRight(back));
      assert.ok(M.equals((back as E.Right<M.MerkleTree>).right, t));
    }),
  );
});

test('deserialize refuses damaged bytes: a flipped leaf bit, a bad header, a wrong length', () => {
  check(
    fc.property(replicasArb, fc.nat(), fc.integer({ min: 0, max: 7 }), ({ a }, at, bit) => {
      const bytes = M.serialize(treeOf(M.defaultShape, a));
      const i = 16 + (at % (bytes.length - 16));
      bytes[i] = bytes[i]! ^ (1 << bit);
      assert.ok(E.isLeft(M.deserialize(bytes)));
    }),
    50,
  );
  const good = M.serialize(treeOf(M.defaultShape, bigReplica(100)));
  const damaged = (f: (b: Uint8Array) => Uint8Array): boolean => E.isLeft(M.deserialize(f(good.slice())));
  assert.ok(damaged((b) => ((b[0] = 0), b)), 'magic');
  assert.ok(damaged((b) => ((b[4] = 9), b)), 'version');
  assert.ok(damaged((b) => ((b[5] = 30), b)), 'shape');
  assert.ok(damaged((b) => b.subarray(0, b.length - 8)), 'truncated');
  assert.ok(damaged((b) => b.subarray(0, 10)), 'short header');
  assert.ok(E.isRight(M.deserialize(good)));
  // Also from an unaligned offset inside a larger buffer.
  const shifted = new Uint8Array(good.length + 3);
  shifted.set(good, 3);
  assert.ok(E.isRight(M.deserialize(shifted.subarray(3))));
});

test.run();

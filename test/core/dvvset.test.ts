import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as D from '../../src/core/dvvset.js';
import { check } from '../helpers/seed.js';

const IDS = ['a', 'b', 'n1', 'n10', 'n2', 'é'] as const;

/** Any well-formed clock whose values come from `base` upward (unique within the clock). */
const clockArb = (base: number): fc.Arbitrary<D.Clock<number>> =>
  fc
    .uniqueArray(fc.tuple(fc.constantFrom(...IDS), fc.integer({ min: 1, max: 12 }), fc.nat(3)), {
      selector: (t) => t[0],
      maxLength: IDS.length,
    })
    .map((raw) => {
      let next = base;
      const entries = raw.map(([id, counter, len]) => ({
        id,
        counter,
        values: Array.from({ length: Math.min(len, counter) }, () => next++),
      }));
      const r = D.fromEntries(entries);
      if (!r.ok) throw new Error(r.reason);
      return r.clock;
    });

const dotKey = (d: D.Dot): string => `${d.id}:${d.counter}`;

test('a first write gets the dot (id, 1); later writes at the same id count up', () => {
  const c1 = D.update(D.newValue('v1'), 'a');
  assert.equal(c1, [{ id: 'a', counter: 1, values: ['v1'] }]);
  const c2 = D.update(D.newValue('v2'), 'a', c1);
  assert.equal(c2, [{ id: 'a', counter: 2, values: ['v2', 'v1'] }]);
  const c3 = D.update(D.newWithContext(D.join(c2), 'v3'), 'b', c2);
  assert.equal(c3, [
    { id: 'a', counter: 2, values: [] },
    { id: 'b', counter: 1, values: ['v3'] },
  ]);
  assert.equal(D.values(c3), ['v3']);
});

test('update keeps exactly the local values the context did not see, and adds the write at the next dot', () => {
  check(
    fc.property(clockArb(0), clockArb(1000), fc.constantFrom(...IDS), (seen, local, id) => {
      const ctx = D.join(seen);
      const out = D.update(D.newWithContext(ctx, -1), id, local);
      assert.is(D.invalid(out), null);
      const counterOf = (c: D.Context | D.Clock<number>): number => c.find((e) => e.id === id)?.counter ?? 0;
      const expectedDot = { id, counter: Math.max(counterOf(ctx), counterOf(local)) + 1 };
      const expected = new Map<string, number>([[dotKey(expectedDot), -1]]);
      for (const { dot, value } of D.dotted(local)) if (!D.covers(ctx, dot)) expected.set(dotKey(dot), value);
      const actual = new Map(D.dotted(out).map(({ dot, value }) => [dotKey(dot), value] as const));
      assert.equal(actual, expected);
      // The stored history includes both the local history and the context.
      assert.ok(D.descends(out, local) && D.descends(out, ctx));
    }),
    300,
  );
});

test('update with the join of a clock supersedes all its values', () => {
  check(
    fc.property(clockArb(0), fc.constantFrom(...IDS), (c, id) => {
      assert.equal(D.values(D.update(D.newWithContext(D.join(c), -1), id, c)), [-1]);
    }),
    300,
  );
});

test('a put without context adds a sibling and drops nothing', () => {
  check(
    fc.property(clockArb(0), fc.constantFrom(...IDS), (c, id) => {
      const out = D.values(D.update(D.newValue(-1), id, c));
      assert.equal([...out].sort((x, y) => x - y), [-1, ...D.values(c)].sort((x, y) => x - y));
    }),
    300,
  );
});

test('join has one entry per clock entry with its counter, and the clock descends its join', () => {
  check(
    fc.property(clockArb(0), (c) => {
      const j = D.join(c);
      assert.equal(j.map((e) => [e.id, e.counter]), c.map((e) => [e.id, e.counter]));
      assert.ok(D.descends(c, j) && D.descends(j, c));
      assert.is(D.invalidContext(j), null);
    }),
  );
});

test('descends is reflexive and transitive; dominates is strict', () => {
  check(
    fc.property(clockArb(0), clockArb(100), clockArb(200), (a, b, c) => {
      assert.ok(D.descends(a, a));
      assert.not.ok(D.dominates(a, a));
      if (D.descends(a, b) && D.descends(b, c)) assert.ok(D.descends(a, c));
      assert.ok(D.descends(a, D.empty));
      if (D.dominates(a, b)) assert.not.ok(D.descends(b, a));
    }),
  );
});

test('sync returns an input by reference when it already holds the merge', () => {
  const a = D.update(D.newValue(1), 'a');
  const b = D.update(D.newValue(2), 'b', a);
  assert.is(D.sync(b, a), b);
  assert.is(D.sync(a, b), b);
  assert.is(D.sync(a, D.empty), a);
  assert.is(D.sync(D.empty, a), a);
  assert.is(D.sync(a, a), a);
});

test('values are listed by id, newest dot first, deterministically', () => {
  const c = D.update(D.newValue('z'), 'b', D.update(D.newValue('y'), 'a', D.update(D.newValue('x'), 'a')));
  assert.equal(D.values(c), ['y', 'x', 'z']);
  assert.equal(
    D.dotted(c).map((d) => dotKey(d.dot)),
    ['a:2', 'a:1', 'b:1'],
  );
  assert.is(D.size(c), 3);
});

test('lww keeps the picked winner alone, keeps the history, and is idempotent', () => {
  const pick = (x: number, y: number): number => (y > x ? y : x);
  check(
    fc.property(clockArb(0), (c) => {
      const l = D.lww(c, pick);
      const vs = D.values(c);
      assert.equal(D.values(l), vs.length === 0 ? [] : [Math.max(...vs)]);
      assert.equal(D.join(l), D.join(c));
      assert.is(D.lww(l, pick), l);
      assert.is(D.invalid(l), null);
    }),
  );
});

test('lww picks the same winner on every replica of a collapsed (lww) namespace', () => {
  const pick = (x: number, y: number): number => (y > x ? y : x);
  // Two coordinators take concurrent blind writes; each stores the collapsed version.
  const a = D.lww(D.update(D.newValue(5), 'a', D.lww(D.update(D.newValue(9), 'a'), pick)), pick);
  const b = D.lww(D.update(D.newValue(7), 'b'), pick);
  const ab = D.lww(D.sync(a, b), pick);
  const ba = D.lww(D.sync(b, a), pick);
  assert.ok(D.equals(ab, ba));
  assert.equal(D.values(ab), [9]);
});

test('isDeleted: true only when there are siblings and all are tombstones', () => {
  type V = { readonly deleted: true } | { readonly data: string };
  const isTomb = (v: V): boolean => 'deleted' in v;
  const put = D.update<V>(D.newValue({ data: 'x' }), 'a');
  const del = D.update<V>(D.newWithContext(D.join(put), { deleted: true }), 'a', put);
  assert.not.ok(D.isDeleted(D.empty as D.Clock<V>, isTomb));
  assert.not.ok(D.isDeleted(put, isTomb));
  assert.ok(D.isDeleted(del, isTomb));
  // A concurrent put against a delete keeps the key alive (a sibling beside the tombstone).
  const concurrent = D.update<V>(D.newValue({ data: 'y' }), 'b', del);
  assert.not.ok(D.isDeleted(concurrent, isTomb));
  assert.is(D.size(concurrent), 2);
});

test('fromEntries is canonical: any order of the same entries gives an equal clock', () => {
  check(
    fc.property(clockArb(0), fc.nat(), (c, seed) => {
      const shuffled = [...c].map((e, i) => ({ e, k: (i * 7919 + seed) % 101 })).sort((x, y) => x.k - y.k).map((x) => x.e);
      const r = D.fromEntries(shuffled);
      assert.ok(r.ok && D.equals(r.clock, c));
    }),
  );
  assert.not.ok(D.fromEntries([{ id: 'a', counter: 1, values: [] }, { id: 'a', counter: 2, values: [] }]).ok);
  const dropped = D.fromEntries([{ id: 'a', counter: 0, values: [] }]);
  assert.ok(dropped.ok && dropped.clock.length === 0);
});

test('invalid names what is wrong with a malformed clock or context', () => {
  assert.is(D.invalid([{ id: 'a', counter: 1, values: [1, 2] }]), 'entry 0 holds more values than its counter');
  assert.match(D.invalid([{ id: 'b', counter: 1, values: [] }, { id: 'a', counter: 1, values: [] }]) ?? '', 'not above');
  assert.match(D.invalid([{ id: 'a', counter: 0.5, values: [] }]) ?? '', 'counter');
  assert.match(D.invalid([{ id: '', counter: 1, values: [] }]) ?? '', 'id');
  assert.match(D.invalidContext([{ id: 'a', counter: -1 }]) ?? '', 'counter');
  assert.is(D.invalidContext([{ id: 'a', counter: 3 }, { id: 'b', counter: 1 }]), null);
});

test('equals compares values with the given equality; map keeps dots', () => {
  const c = D.update(D.newValue({ n: 1 }), 'a');
  const d = D.update(D.newValue({ n: 1 }), 'a');
  assert.not.ok(D.equals(c, d));
  assert.ok(D.equals(c, d, (x, y) => x.n === y.n));
  const m = D.map(c, (v) => v.n * 10);
  assert.equal(m, [{ id: 'a', counter: 1, values: [10] }]);
});

test.run();

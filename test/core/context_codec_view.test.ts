import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as D from '../../src/core/dvvset.js';
import * as C from '../../src/core/context_codec.js';
import { check } from '../helpers/seed.js';

// ASCII ids take objectView's fast scan; the others its fallback through decodeObject.
const idArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
  fc.constantFrom('n1', 'n10', 'node-a', 'node-b', '127.0.0.1:7401', 'é', '日本', '😀', '\uffff', '\ud83d\ude00x'),
);
const counterArb = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(127, 128, 16384, 2 ** 32, Number.MAX_SAFE_INTEGER));

const sortById = <T extends { id: string }>(xs: T[]): T[] => xs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

const clockArb: fc.Arbitrary<D.Clock<Uint8Array>> = fc
  .uniqueArray(
    fc.record({ id: idArb, counter: counterArb, values: fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 3 }) }),
    { selector: (e) => e.id, maxLength: 5 },
  )
  .map((es) => sortById(es.map((e) => ({ id: e.id, counter: e.counter, values: e.values.slice(0, e.counter) }))));

const bytesEq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** objectView's laws against decodeObject, for any bytes. */
const agrees = (bytes: Uint8Array): void => {
  const view = C.objectView(bytes);
  const full = C.decodeObject(bytes);
  assert.is(view.ok, full.ok);
  if (!view.ok || !full.ok) {
    assert.is(!view.ok && view.reason, !full.ok && full.reason);
    return;
  }
  assert.ok(bytesEq(view.value.context, C.encodeContext(D.join(full.value))));
  const values = D.values(full.value);
  assert.is(view.value.values.length, values.length);
  view.value.values.forEach((v, i) => assert.ok(bytesEq(v, values[i]!)));
};

test('objectView of an encoded object gives encodeContext(join(o)) and values(o)', () => {
  check(fc.property(clockArb, (o) => agrees(C.encodeObject(o))), 500);
});

test('objectView accepts and refuses exactly what decodeObject does (mutated and random bytes)', () => {
  check(
    fc.property(clockArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (o, at, byte) => {
      const bytes = C.encodeObject(o);
      const mutated = bytes.slice();
      mutated[at % mutated.length] = byte;
      agrees(mutated);
      agrees(bytes.subarray(0, at % bytes.length));
    }),
    500,
  );
  check(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => agrees(Uint8Array.of(C.OBJECT_TAG, ...b))), 500);
});

test('objectView refuses ids out of order and empty values of a counter-0 entry', () => {
  // Hand-built: two ASCII ids in descending order.
  const bad = Uint8Array.of(C.OBJECT_TAG, 2, 1, 0x62, 1, 0x61, 1, 0, 1, 0);
  agrees(bad);
  assert.not.ok(C.objectView(bad).ok);
  assert.not.ok(C.objectView(Uint8Array.of(C.OBJECT_TAG, 1, 1, 0x61, 0, 0)).ok);
});

test('objectView values are views of the input (no copy)', () => {
  const o = D.update(D.newValue(new Uint8Array([1, 2, 3])), 'a');
  const bytes = C.encodeObject(o);
  const v = C.objectView(bytes);
  assert.ok(v.ok);
  bytes.fill(9, bytes.length - 3);
  assert.ok(v.ok && bytesEq(v.value.values[0]!, new Uint8Array([9, 9, 9])));
});

test('interned ids: decoding with reused input buffers returns the right ids every time', () => {
  // The id cache must key on the bytes, not on the buffer they sit in.
  const buf = new Uint8Array(64);
  for (const id of ['node-a', 'node-b', 'node-a', 'x', 'node-c', 'node-a']) {
    const bytes = C.encodeContext([{ id, counter: 3 }]);
    buf.set(bytes);
    const d = C.decodeContext(buf.subarray(0, bytes.length));
    assert.ok(d.ok);
    assert.is(d.ok && d.value[0]!.id, id);
  }
});

test.run();

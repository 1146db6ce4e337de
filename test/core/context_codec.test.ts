import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import * as D from '../../src/core/dvvset.js';
import * as C from '../../src/core/context_codec.js';
import { check } from '../helpers/seed.js';

// Ids: short ASCII (the usual case), multi-byte and astral characters.
const idArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
  fc.constantFrom('n1', 'n10', '127.0.0.1:7401', 'é', '日本', '😀'),
);
const counterArb = fc.oneof(
  fc.integer({ min: 1, max: 200 }),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER),
);

const sortById = <T extends { id: string }>(xs: T[]): T[] => xs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

const contextArb: fc.Arbitrary<D.Context> = fc
  .uniqueArray(fc.record({ id: idArb, counter: counterArb }), { selector: (e) => e.id, maxLength: 8 })
  // Plain objects: fc.record's null-prototype objects would not deep-equal decoded ones.
  .map((es) => sortById(es.map((e) => ({ id: e.id, counter: e.counter }))));

const clockArb: fc.Arbitrary<D.Clock<Uint8Array>> = fc
  .uniqueArray(
    fc.record({ id: idArb, counter: counterArb, values: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }) }),
    { selector: (e) => e.id, maxLength: 6 },
  )
  .map((es) => sortById(es.map((e) => ({ id: e.id, counter: e.counter, values: e.values.slice(0, e.counter) }))));

const bytesEq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

test('decodeContext(encodeContext(c)) = c', () => {
  check(
    fc.property(contextArb, (c) => {
      assert.is(D.invalidContext(c), null);
      const d = C.decodeContext(C.encodeContext(c));
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.equal(d.ok && d.value, c);
    }),
    500,
  );
});

test('decodeObject(encodeObject(o)) = o, with values copied or as views', () => {
  check(
    fc.property(clockArb, (o) => {
      assert.is(D.invalid(o), null);
      const bytes = C.encodeObject(o);
      for (const copyValues of [true, false]) {
        const d = C.decodeObject(bytes, { copyValues });
        assert.ok(d.ok, d.ok ? '' : d.reason);
        assert.ok(d.ok && D.equals(d.value, o, bytesEq));
      }
    }),
    500,
  );
});

test('copied values do not change when the input buffer is reused', () => {
  const o = D.update(D.newValue(new Uint8Array([1, 2, 3])), 'a');
  const bytes = C.encodeObject(o);
  const copied = C.decodeObject(bytes);
  const viewed = C.decodeObject(bytes, { copyValues: false });
  bytes.fill(0);
  assert.ok(copied.ok && bytesEq(D.values(copied.value)[0]!, new Uint8Array([1, 2, 3])));
  assert.ok(viewed.ok && bytesEq(D.values(viewed.value)[0]!, new Uint8Array([0, 0, 0])));
  // Buffer input: its slice() is a view, so copying must not rely on it.
  const buf = Buffer.from(C.encodeObject(o));
  const fromBuf = C.decodeObject(buf);
  buf.fill(0);
  assert.ok(fromBuf.ok && bytesEq(D.values(fromBuf.value)[0]!, new Uint8Array([1, 2, 3])));
});

test('canonical: any bytes that decode re-encode to exactly themselves (equal values, equal bytes)', () => {
  check(
    fc.property(contextArb, fc.nat(), fc.nat(255), (c, at, byte) => {
      const b = C.encodeContext(c);
      const mutated = b.slice();
      mutated[at % b.length] = byte;
      const d = C.decodeContext(mutated);
      if (d.ok) assert.ok(bytesEq(C.encodeContext(d.value), mutated));
    }),
    500,
  );
  check(
    fc.property(clockArb, fc.nat(), fc.nat(255), (o, at, byte) => {
      const b = C.encodeObject(o);
      const mutated = b.slice();
      mutated[at % b.length] = byte;
      const d = C.decodeObject(mutated);
      if (d.ok) assert.ok(bytesEq(C.encodeObject(d.value), mutated));
    }),
    500,
  );
});

test('decode never throws on random bytes, truncations or single-byte corruptions', () => {
  const safe = (b: Uint8Array): void => {
    for (const d of [C.decodeContext(b), C.decodeObject(b), C.decodeObject(b, { copyValues: false })]) {
      if (!d.ok) assert.type(d.reason, 'string');
    }
  };
  check(fc.property(fc.uint8Array({ maxLength: 64 }), safe), 1000);
  // Random bytes behind a valid tag reach deeper into the decoders.
  check(
    fc.property(fc.constantFrom(C.CONTEXT_TAG, C.OBJECT_TAG), fc.uint8Array({ maxLength: 64 }), (tag, rest) => {
      safe(Uint8Array.of(tag, ...rest));
    }),
    1000,
  );
  check(
    fc.property(clockArb, fc.nat(), (o, cut) => {
      const b = C.encodeObject(o);
      const n = cut % (b.length + 1);
      safe(b.subarray(0, n));
      if (n < b.length) assert.not.ok(C.decodeObject(b.subarray(0, n)).ok, 'a strict prefix never decodes');
    }),
    500,
  );
  for (const garbage of [undefined, null, 'x', 12, {}, [1, 2]]) safe(garbage as unknown as Uint8Array);
});

test('decode refuses with a reason: bad tag, version, order, counters, limits, trailing bytes', () => {
  const reasonOf = (d: C.Decoded<unknown>): string => (d.ok ? 'ok' : d.reason);
  const ab = C.encodeContext([
    { id: 'a', counter: 1 },
    { id: 'b', counter: 300 },
  ]);
  assert.equal([...ab], [0x11, 2, 1, 0x61, 1, 0x62, 1, 0xac, 0x02]);
  assert.match(reasonOf(C.decodeContext(new Uint8Array())), 'empty context');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x12, 0))), 'unsupported context version 2');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x21, 0))), 'not a context');
  assert.match(reasonOf(C.decodeObject(ab)), 'not a object');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 2, 1, 0x62, 1, 0x61, 1, 1))), 'not strictly ascending');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 2, 1, 0x61, 1, 0x61, 1, 1))), 'not strictly ascending');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 1, 1, 0x61, 0))), 'counter 0');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 1, 1, 0x61, 0x81, 0x00))), 'non-minimal');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 1, 1, 0xff, 1))), 'UTF-8');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 1, 0, 1, 1))), 'empty node id');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(...ab, 0))), 'trailing');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 0xff, 0xff, 0xff, 0x7f))), 'more than 1024');
  assert.match(reasonOf(C.decodeContext(Uint8Array.of(0x11, 1, 1, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))), 'above 2^53');
  assert.match(reasonOf(C.decodeContext(ab, { maxEntries: 1 })), 'more than 1');
  // Object: a value count above the counter is impossible in a DVVSet.
  assert.match(reasonOf(C.decodeObject(Uint8Array.of(0x21, 1, 1, 0x61, 1, 2, 0, 0))), '2 values but counter 1');
  assert.match(reasonOf(C.decodeObject(Uint8Array.of(0x21, 1, 1, 0x61, 1, 1, 5, 1))), 'truncated');
  assert.is(reasonOf(C.decodeObject(Uint8Array.of(0x21, 1, 1, 0x61, 3, 1, 2, 9, 8))), 'ok');
});

test('equal clocks encode to equal bytes; the Either forms agree', () => {
  const a = D.update(D.newValue(Uint8Array.of(1)), 'b', D.update(D.newValue(Uint8Array.of(2)), 'a'));
  const b = D.sync(D.update(D.newValue(Uint8Array.of(2)), 'a'), a);
  assert.ok(bytesEq(C.encodeObject(a), C.encodeObject(b)));
  assert.ok(E.isRight(C.decodeContextE(C.encodeContext(D.join(a)))));
  assert.ok(E.isLeft(C.decodeObjectE(Uint8Array.of(0x21))));
});

// ---- encodeSupersedingWrite: the common write on bytes is the general path's write

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const headArb = fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 255 }));
const withHead = (head: number, value: Uint8Array): Uint8Array => (head < 0 ? value : Uint8Array.of(head, ...value));

/** The general path: decode, update, encode (what the replica does without the fast path). */
const generalWrite = (before: D.Clock<Uint8Array> | undefined, ctx: D.Context, id: string, sibling: Uint8Array) => {
  const next = D.update(D.newWithContext(ctx, sibling), id, before ?? D.empty);
  return { object: C.encodeObject(next), context: C.encodeContext(D.join(next)) };
};

const agreesWithGeneral = (before: D.Clock<Uint8Array> | undefined, ctxBytes: Uint8Array, ctx: D.Context, id: string, head: number, value: Uint8Array): boolean => {
  const fast = C.encodeSupersedingWrite(before === undefined ? undefined : C.encodeObject(before), ctxBytes, utf8(id), head, value);
  if (fast === undefined) return false;
  const general = generalWrite(before, ctx, id, withHead(head, value));
  assert.ok(bytesEq(fast.object, general.object), 'object bytes differ');
  assert.ok(bytesEq(fast.context, general.context), 'context bytes differ');
  return true;
};

test('encodeSupersedingWrite: the common cases take the fast path, with the general path\'s bytes', () => {
  const valueArb = fc.uint8Array({ maxLength: 300 });
  check(
    fc.property(idArb, counterArb, fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }), headArb, valueArb, (id, counter, values, head, value) => {
      fc.pre(counter < Number.MAX_SAFE_INTEGER);
      // A key this replica wrote last (any values, siblings of its own included), written with its context.
      const before: D.Clock<Uint8Array> = [{ id, counter, values: values.slice(0, counter) }];
      const ctx = D.join(before);
      assert.ok(agreesWithGeneral(before, C.encodeContext(ctx), ctx, id, head, value), 'a superseding write missed the fast path');
      // A new key, blind write: empty context bytes, or the encoded empty context.
      assert.ok(agreesWithGeneral(undefined, new Uint8Array(0), D.emptyContext, id, head, value));
      assert.ok(agreesWithGeneral(undefined, C.encodeContext(D.emptyContext), D.emptyContext, id, head, value));
    }),
    500,
  );
});

test('encodeSupersedingWrite: whenever it answers, it answers what the general path does', () => {
  check(
    fc.property(fc.option(clockArb, { nil: undefined }), contextArb, fc.boolean(), idArb, headArb, fc.uint8Array({ maxLength: 60 }), (before, otherCtx, useJoin, id, head, value) => {
      // Half the time the context is the object's own clock (the usual client), else anything.
      const ctx = useJoin && before !== undefined ? D.join(before) : otherCtx;
      const ctxBytes = C.encodeContext(ctx);
      const fast = C.encodeSupersedingWrite(before === undefined ? undefined : C.encodeObject(before), ctxBytes, utf8(id), head, value);
      if (fast !== undefined) agreesWithGeneral(before, ctxBytes, ctx, id, head, value);
      // Siblings of another replica or a context that covers less always go the general way.
      const others = before?.some((e) => e.id !== id) ?? false;
      if (others) assert.is(fast, undefined);
    }),
    2000,
  );
});

test('encodeSupersedingWrite: bytes that do not decode never take the fast path; it never throws', () => {
  const id = utf8('n1');
  const good = C.encodeObject([{ id: 'n1', counter: 3, values: [Uint8Array.of(1, 2)] }]);
  const goodCtx = C.encodeContext([{ id: 'n1', counter: 3 }]);
  assert.ok(C.encodeSupersedingWrite(good, goodCtx, id, 0, Uint8Array.of(9)) !== undefined);
  assert.is(C.encodeSupersedingWrite(good.subarray(0, good.length - 1), goodCtx, id, 0, Uint8Array.of(9)), undefined, 'truncated value');
  assert.is(C.encodeSupersedingWrite(Uint8Array.of(...good, 0), goodCtx, id, 0, Uint8Array.of(9)), undefined, 'trailing byte');
  assert.is(C.encodeSupersedingWrite(good, C.encodeContext([{ id: 'n1', counter: 2 }]), id, 0, Uint8Array.of(9)), undefined, 'stale context');
  assert.is(C.encodeSupersedingWrite(good, C.encodeContext([{ id: 'n1', counter: 4 }]), id, 0, Uint8Array.of(9)), undefined, 'newer context');
  assert.is(C.encodeSupersedingWrite(good, new Uint8Array(0), id, 0, Uint8Array.of(9)), undefined, 'blind write on a stored key makes a sibling');
  assert.is(C.encodeSupersedingWrite(undefined, goodCtx, id, 0, Uint8Array.of(9)), undefined, 'a context for an absent key');
  // Non-minimal counter varint in the stored object: the decoder refuses it, so must the fast path.
  assert.is(C.encodeSupersedingWrite(Uint8Array.of(0x21, 1, 2, 0x6e, 0x31, 0x83, 0x00, 1, 1, 5), Uint8Array.of(0x11, 1, 2, 0x6e, 0x31, 0x83, 0x00), id, 0, Uint8Array.of(9)), undefined);
  check(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 12 }), (junk, ctx) => {
      const fast = C.encodeSupersedingWrite(junk, ctx, id, 0, Uint8Array.of(9));
      if (fast !== undefined) assert.ok(C.decodeObject(junk).ok && C.decodeContext(ctx).ok);
    }),
    2000,
  );
});

test.run();

/**
 * Compact binary encodings of a causal context (what a client carries between
 * a get and a put) and of a whole stored object (a clock with its sibling
 * values as bytes, for the storage layer and replica messages).
 *
 * Context, kind 1 version 1:
 *   u8      0x11                      (high nibble: kind 1 = context; low nibble: version 1)
 *   varint  k                         number of entries
 *   k ×     varint idBytes, utf8 id   the node-id table, ids strictly ascending (JS string order)
 *   k ×     varint counter            counter of the id at the same position (≥ 1)
 *
 * Object, kind 2 version 1:
 *   u8      0x21
 *   varint  k
 *   k ×     varint idBytes, utf8 id   the node-id table, strictly ascending
 *   k ×     varint counter, varint valueCount   (valueCount ≤ counter)
 *   for each entry in order, valueCount × (varint byteLength, bytes)   newest dot first
 *
 * Node ids are interned: each id is written once, in a table at the front, and
 * everything after refers to it by position (values carry no ids or dots at
 * all; a value's dot is implied by its position in its entry). Varints are
 * unsigned LEB128, minimal, at most 8 bytes, ≤ 2^53 - 1.
 *
 * Decoders accept exactly the canonical bytes: non-minimal varints, unsorted
 * or repeated ids, invalid UTF-8 and trailing bytes are refused. Hence:
 *   decodeContext(encodeContext(c)) = ok(c)          for a valid context c
 *   decodeObject(encodeObject(o))   = ok(o)          for a valid clock o
 *   decode(b) = ok(x)  ⇒  encode(x) = b              (canonical: one encoding per value)
 *   decode never throws, whatever the bytes; a refusal names its reason.
 * Equal clocks therefore encode to equal bytes (digest-friendly).
 *
 * Ids are assumed well-formed Unicode; a lone surrogate is written as U+FFFD
 * (as TextEncoder does), so such an id would not round-trip.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Clock, Context, ContextEntry, Entry } from './dvvset.js';

// ---------------------------------------------------------------- model

export type Decoded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: string };

export const CONTEXT_TAG = 0x11;
export const OBJECT_TAG = 0x21;

export interface DecodeLimits {
  /** Most entries (replica ids) a clock or context may have. */
  readonly maxEntries?: number;
  /** Longest node id in UTF-8 bytes. */
  readonly maxIdBytes?: number;
  /** Most sibling values an object may hold. */
  readonly maxValues?: number;
}

export interface ObjectDecodeOptions extends DecodeLimits {
  /**
   * Copy value bytes out of the input (default true) so the result does not
   * pin, or change with, a buffer the caller reuses (storage folds reuse
   * theirs). All values then share one fresh allocation. With false, values
   * are views into the input.
   */
  readonly copyValues?: boolean;
}

export const defaultLimits: Required<DecodeLimits> = { maxEntries: 1024, maxIdBytes: 255, maxValues: 65536 };

// ---------------------------------------------------------------- varints and UTF-8

const varintBytes = (n: number): number => {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let s = 4;
  let m = Math.floor(n / 0x10000000);
  while (m > 0) {
    s++;
    m = Math.floor(m / 0x80);
  }
  return s;
};

const writeVarint = (out: Uint8Array, pos: number, n: number): number => {
  while (n >= 0x80) {
    // `%` and division keep bits above 32 (bit operators would truncate them).
    out[pos++] = (n < 0x80000000 ? n & 0x7f : n % 0x80) | 0x80;
    n = n < 0x80000000 ? n >>> 7 : Math.floor(n / 0x80);
  }
  out[pos++] = n;
  return pos;
};

const utf8Bytes = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
};

const writeUtf8 = (out: Uint8Array, pos: number, s: string): number => {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
    } else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[pos++] = 0xf0 | (cp >> 18);
      out[pos++] = 0x80 | ((cp >> 12) & 0x3f);
      out[pos++] = 0x80 | ((cp >> 6) & 0x3f);
      out[pos++] = 0x80 | (cp & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
      out[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
};

// A typed array over 64 bytes gets its own ArrayBuffer, which costs ~450 ns
// here against ~40 ns for a view into a shared slab (as Buffer.allocUnsafe's
// pool does; Buffer itself is off limits in the core). Encoders take their
// output from such a slab: every region is handed out once and fully written
// by its encoder, so results never share bytes. Results are views (mind
// byteOffset), and a kept result pins its slab: meant for outputs that are
// stored, sent or copied soon (objects and contexts), not for decoded values.
const SLAB_BYTES = 64 * 1024;
const POOLED_MAX_BYTES = 4096;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

const allocOut = (size: number): Uint8Array => {
  if (size <= 64 || size > POOLED_MAX_BYTES) return new Uint8Array(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, size);
  slabUsed += (size + 7) & ~7; // 8-byte aligned, as Buffer's pool
  return out;
};

// Fatal: invalid UTF-8 is a refusal, never a silent U+FFFD (which would break canonicity).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// A node meets the same few replica ids in every object and context it
// decodes, and building their strings was the largest part of a decode
// (profiled: bench/results/server.profile.md). So ASCII ids are interned in a
// small direct-mapped cache keyed by a hash of their bytes; a hit compares the
// bytes and returns the string already built. A miss only costs the build.
// The cache never changes what a decode returns (strings are values), so the
// functions stay pure to their callers.
const ID_CACHE_SLOTS = 64;
const idCacheBytes = new Array<Uint8Array | undefined>(ID_CACHE_SLOTS).fill(undefined);
const idCacheStrings = new Array<string>(ID_CACHE_SLOTS).fill('');

const asciiId = (b: Uint8Array, start: number, len: number, slot: number): string => {
  const cached = idCacheBytes[slot];
  if (cached !== undefined && cached.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (cached[i] !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return idCacheStrings[slot] as string;
  }
  let s = '';
  for (let i = start; i < start + len; i++) s += String.fromCharCode(b[i] as number);
  // A copy (not `slice`, a view on a Buffer): the input may be a buffer its owner reuses.
  idCacheBytes[slot] = new Uint8Array(b.subarray(start, start + len));
  idCacheStrings[slot] = s;
  return s;
};

/** A cursor over the input; `reason` is set on the first failure and stops everything. */
class Reader {
  pos = 0;
  reason: string | null = null;
  constructor(readonly bytes: Uint8Array) {}

  fail(reason: string): number {
    if (this.reason === null) this.reason = `${reason} at byte ${this.pos}`;
    return -1;
  }

  varint(what: string): number {
    const b = this.bytes;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= b.length) return this.fail(`truncated ${what}`);
      const byte = b[this.pos++] as number;
      result += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) return this.fail(`non-minimal varint in ${what}`);
        if (result > Number.MAX_SAFE_INTEGER) return this.fail(`${what} above 2^53 - 1`);
        return result;
      }
      mul *= 0x80;
    }
    return this.fail(`${what} varint longer than 8 bytes`);
  }

  id(maxIdBytes: number): string {
    const len = this.varint('id length');
    if (len < 0) return '';
    if (len === 0) return (this.fail('empty node id'), '');
    if (len > maxIdBytes) return (this.fail(`node id longer than ${maxIdBytes} bytes`), '');
    if (len > this.bytes.length - this.pos) return (this.fail('truncated node id'), '');
    const start = this.pos;
    this.pos += len;
    const b = this.bytes;
    let ascii = true;
    let h = len;
    for (let i = start; i < start + len; i++) {
      const c = b[i] as number;
      if (c >= 0x80) ascii = false;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (ascii) return asciiId(b, start, len, h & (ID_CACHE_SLOTS - 1));
    try {
      return utf8Decoder.decode(b.subarray(start, start + len));
    } catch {
      this.pos = start;
      return (this.fail('node id is not valid UTF-8'), '');
    }
  }
}

const header = (r: Reader, tag: number, kind: string, limits: Required<DecodeLimits>): number => {
  if (!(r.bytes instanceof Uint8Array)) return r.fail(`${kind} is not a Uint8Array`);
  if (r.bytes.length === 0) return r.fail(`empty ${kind}`);
  const first = r.bytes[r.pos++] as number;
  if (first !== tag) {
    r.pos--;
    if (first >> 4 !== tag >> 4) return r.fail(`not a ${kind} (tag 0x${first.toString(16)})`);
    return r.fail(`unsupported ${kind} version ${first & 0x0f}`);
  }
  const k = r.varint('entry count');
  if (k < 0) return k;
  if (k > limits.maxEntries) return r.fail(`${k} entries, more than ${limits.maxEntries}`);
  // Each entry takes at least 3 bytes; refusing early avoids allocating for a lying count.
  if (k * 3 > r.bytes.length - r.pos) return r.fail(`entry count ${k} exceeds the input`);
  return k;
};

const readIds = (r: Reader, k: number, limits: Required<DecodeLimits>): string[] => {
  const ids = new Array<string>(k);
  for (let i = 0; i < k; i++) {
    const id = r.id(limits.maxIdBytes);
    if (r.reason !== null) return ids;
    if (i > 0 && !((ids[i - 1] as string) < id)) return (r.fail('node ids not strictly ascending'), ids);
    ids[i] = id;
  }
  return ids;
};

const withLimits = (l?: DecodeLimits): Required<DecodeLimits> =>
  l === undefined
    ? defaultLimits
    : {
        maxEntries: l.maxEntries ?? defaultLimits.maxEntries,
        maxIdBytes: l.maxIdBytes ?? defaultLimits.maxIdBytes,
        maxValues: l.maxValues ?? defaultLimits.maxValues,
      };

// ---------------------------------------------------------------- context

/** Bytes of a valid context (see `invalidContext` in dvvset.ts). */
export const encodeContext = (context: Context): Uint8Array => {
  let size = 1 + varintBytes(context.length);
  for (const e of context) {
    const idLen = utf8Bytes(e.id);
    size += varintBytes(idLen) + idLen + varintBytes(e.counter);
  }
  const out = allocOut(size);
  out[0] = CONTEXT_TAG;
  let pos = writeVarint(out, 1, context.length);
  for (const e of context) {
    pos = writeVarint(out, pos, utf8Bytes(e.id));
    pos = writeUtf8(out, pos, e.id);
  }
  for (const e of context) pos = writeVarint(out, pos, e.counter);
  return out;
};

/** The context in `bytes`, or why the bytes are not one. Never throws. */
export const decodeContext = (bytes: Uint8Array, limits?: DecodeLimits): Decoded<Context> => {
  const lim = withLimits(limits);
  const r = new Reader(bytes);
  const k = header(r, CONTEXT_TAG, 'context', lim);
  if (r.reason !== null) return { ok: false, reason: r.reason };
  const ids = readIds(r, k, lim);
  if (r.reason !== null) return { ok: false, reason: r.reason };
  const out = new Array<ContextEntry>(k);
  for (let i = 0; i < k; i++) {
    const counter = r.varint('counter');
    if (counter === 0) r.fail('counter 0');
    if (r.reason !== null) return { ok: false, reason: r.reason };
    out[i] = { id: ids[i] as string, counter };
  }
  if (r.pos !== bytes.length) return { ok: false, reason: `${bytes.length - r.pos} trailing bytes` };
  return { ok: true, value: out };
};

/** `decodeContext` as an fp-ts Either (left: the reason). */
export const decodeContextE = (bytes: Uint8Array, limits?: DecodeLimits): E.Either<string, Context> => {
  const d = decodeContext(bytes, limits);
  return d.ok ? E.right(d.value) : E.left(d.reason);
};

// ---------------------------------------------------------------- object

/** Bytes of a valid clock whose values are bytes (see `invalid` in dvvset.ts). */
export const encodeObject = (clock: Clock<Uint8Array>): Uint8Array => {
  let size = 1 + varintBytes(clock.length);
  for (const e of clock) {
    const idLen = utf8Bytes(e.id);
    size += varintBytes(idLen) + idLen + varintBytes(e.counter) + varintBytes(e.values.length);
    for (const v of e.values) size += varintBytes(v.length) + v.length;
  }
  const out = allocOut(size);
  out[0] = OBJECT_TAG;
  let pos = writeVarint(out, 1, clock.length);
  for (const e of clock) {
    pos = writeVarint(out, pos, utf8Bytes(e.id));
    pos = writeUtf8(out, pos, e.id);
  }
  for (const e of clock) {
    pos = writeVarint(out, pos, e.counter);
    pos = writeVarint(out, pos, e.values.length);
  }
  for (const e of clock) {
    for (const v of e.values) {
      pos = writeVarint(out, pos, v.length);
      out.set(v, pos);
      pos += v.length;
    }
  }
  return out;
};

/** The stored object in `bytes`, or why the bytes are not one. Never throws. */
export const decodeObject = (bytes: Uint8Array, options?: ObjectDecodeOptions): Decoded<Clock<Uint8Array>> => {
  const lim = withLimits(options);
  const r = new Reader(bytes);
  const k = header(r, OBJECT_TAG, 'object', lim);
  if (r.reason !== null) return { ok: false, reason: r.reason };
  const ids = readIds(r, k, lim);
  if (r.reason !== null) return { ok: false, reason: r.reason };
  const counters = new Array<number>(k);
  const counts = new Array<number>(k);
  let totalValues = 0;
  for (let i = 0; i < k; i++) {
    const counter = r.varint('counter');
    if (counter === 0) r.fail('counter 0');
    const count = r.varint('value count');
    if (r.reason !== null) return { ok: false, reason: r.reason };
    if (count > counter) return { ok: false, reason: `entry ${i} has ${count} values but counter ${counter}` };
    totalValues += count;
    if (totalValues > lim.maxValues) return { ok: false, reason: `more than ${lim.maxValues} values` };
    counters[i] = counter;
    counts[i] = count;
  }
  // First pass: find every value's bounds (and validate) before copying anything.
  if (totalValues > bytes.length - r.pos) return { ok: false, reason: `value count ${totalValues} exceeds the input` };
  // bounds[2v], bounds[2v + 1]: start and end of value v in `bytes`.
  const bounds = new Array<number>(2 * totalValues);
  const valuesStart = r.pos;
  for (let v = 0; v < totalValues; v++) {
    const len = r.varint('value length');
    if (r.reason !== null) return { ok: false, reason: r.reason };
    if (len > bytes.length - r.pos) return { ok: false, reason: `value ${v} of ${len} bytes is truncated at byte ${r.pos}` };
    bounds[2 * v] = r.pos;
    r.pos += len;
    bounds[2 * v + 1] = r.pos;
  }
  if (r.pos !== bytes.length) return { ok: false, reason: `${bytes.length - r.pos} trailing bytes` };
  // Copying the whole value region once gives every value a view of one fresh buffer.
  const copy = options?.copyValues !== false;
  let source = bytes;
  if (copy) {
    // Not `bytes.slice`: on a Buffer that is a view, not a copy.
    source = new Uint8Array(bytes.length - valuesStart);
    source.set(bytes.subarray(valuesStart));
  }
  const base = source.byteOffset - (copy ? valuesStart : 0);
  const out = new Array<Entry<Uint8Array>>(k);
  let v = 0;
  for (let i = 0; i < k; i++) {
    const n = counts[i] as number;
    const values = new Array<Uint8Array>(n);
    for (let j = 0; j < n; j++, v++) {
      const s = bounds[2 * v] as number;
      values[j] = new Uint8Array(source.buffer, base + s, (bounds[2 * v + 1] as number) - s);
    }
    out[i] = { id: ids[i] as string, counter: counters[i] as number, values };
  }
  return { ok: true, value: out };
};

/** `decodeObject` as an fp-ts Either (left: the reason). */
export const decodeObjectE = (bytes: Uint8Array, options?: ObjectDecodeOptions): E.Either<string, Clock<Uint8Array>> => {
  const d = decodeObject(bytes, options);
  return d.ok ? E.right(d.value) : E.left(d.reason);
};

// ---------------------------------------------------------------- the common write, on bytes

/** Where the last `varintAt` stopped (module scratch: the fast path allocates nothing to return two numbers). */
let varintEnd = 0;

/** The canonical varint at `pos` (its end in `varintEnd`), or -1 where the decoders would refuse it. */
const varintAt = (b: Uint8Array, pos: number): number => {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= b.length) return -1;
    const byte = b[pos++] as number;
    result += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) {
      if ((byte === 0 && i > 0) || result > Number.MAX_SAFE_INTEGER) return -1;
      varintEnd = pos;
      return result;
    }
    mul *= 0x80;
  }
  return -1;
};

export interface SupersedingWrite {
  /** encodeObject of the new clock: [(id, c + 1, [value])]. */
  readonly object: Uint8Array;
  /** encodeContext of its join: [(id, c + 1)]. */
  readonly context: Uint8Array;
}

/**
 * The write nearly every client makes, done on bytes: its context is exactly
 * the clock of the stored object `before`, and that object is one entry of
 * this replica `id` (c, any values), or the key is absent and the context
 * empty (c = 0). Then `update({context, value}, id, before)` is
 * [(id, c + 1, [value])], whose context is [(id, c + 1)]; this encodes both
 * without decoding a clock or building one.
 *
 * For anything else (siblings of other replicas, a stale, newer or foreign
 * context, bytes that do not decode) it answers undefined and the caller
 * takes the general path (decode, `update`, encode); when it answers, its
 * bytes are the general path's, byte for byte (test/core/context_codec.test.ts).
 *
 * `idBytes`: `id` in UTF-8. The new sibling is the byte `head` (0..255; -1:
 * none) followed by `value`, so a caller that tags values need not build the
 * tagged copy first.
 */
export const encodeSupersedingWrite = (
  before: Uint8Array | undefined,
  context: Uint8Array,
  idBytes: Uint8Array,
  head: number,
  value: Uint8Array,
): SupersedingWrite | undefined => {
  if (idBytes.length === 0 || idBytes.length > defaultLimits.maxIdBytes) return undefined;
  let counter = 0;
  if (before === undefined) {
    if (context.length !== 0 && !(context.length === 2 && context[0] === CONTEXT_TAG && context[1] === 0)) return undefined;
  } else {
    // Header: tag, one entry, the id (ours), its counter and value count.
    if (before.length < 4 || before[0] !== OBJECT_TAG || before[1] !== 1) return undefined;
    const idLen = varintAt(before, 2);
    if (idLen !== idBytes.length) return undefined;
    const idAt = varintEnd;
    if (idAt + idLen > before.length) return undefined;
    for (let i = 0; i < idLen; i++) if (before[idAt + i] !== idBytes[i]) return undefined;
    counter = varintAt(before, idAt + idLen);
    if (counter < 1) return undefined;
    const counterEnd = varintEnd;
    const count = varintAt(before, counterEnd);
    if (count < 0 || count > counter || count > defaultLimits.maxValues) return undefined;
    // The rest must decode too (the general path refuses an object that does not).
    let pos = varintEnd;
    for (let v = 0; v < count; v++) {
      const len = varintAt(before, pos);
      if (len < 0 || len > before.length - varintEnd) return undefined;
      pos = varintEnd + len;
    }
    if (pos !== before.length) return undefined;
    // The context is [(id, counter)]: the same bytes as the object's header after its tag.
    if (context.length !== counterEnd || context[0] !== CONTEXT_TAG) return undefined;
    for (let i = 1; i < counterEnd; i++) if (context[i] !== before[i]) return undefined;
  }
  const next = counter + 1;
  if (next > Number.MAX_SAFE_INTEGER) return undefined;
  const n = head < 0 ? value.length : value.length + 1;
  const idHeader = 1 + varintBytes(idBytes.length) + idBytes.length + varintBytes(next);
  const object = allocOut(1 + idHeader + 1 + varintBytes(n) + n);
  object[0] = OBJECT_TAG;
  object[1] = 1;
  let pos = writeVarint(object, 2, idBytes.length);
  object.set(idBytes, pos);
  pos = writeVarint(object, pos + idBytes.length, next);
  object[pos++] = 1;
  pos = writeVarint(object, pos, n);
  if (head >= 0) object[pos++] = head;
  object.set(value, pos);
  const ctx = allocOut(1 + idHeader);
  ctx[0] = CONTEXT_TAG;
  ctx.set(object.subarray(1, 1 + idHeader), 1);
  return { object, context: ctx };
};

// ---------------------------------------------------------------- object view (the read path)

/** What a read replies with, taken straight from an object's bytes. */
export interface ObjectView {
  /** `encodeContext(join(o))` of the object `o` in the bytes. */
  readonly context: Uint8Array;
  /** `values(o)`, in that order, as views into the input (no copies). */
  readonly values: readonly Uint8Array[];
}

/**
 * The reply to a read of the object in `bytes`, without building the clock:
 * the context is the object's id table (copied as bytes, no UTF-8 decoding)
 * followed by its counters, and the values are views into `bytes`, so the
 * caller must not reuse `bytes` while it holds them. Laws:
 *   objectView(b).ok  ⇔  decodeObject(b).ok
 *   objectView(b) = ok(v)  ⇒  v.context = encodeContext(join(o)) and v.values = values(o),
 *                              where decodeObject(b) = ok(o)
 * and a refusal carries decodeObject's reason. Never throws.
 */
export const objectView = (bytes: Uint8Array, limits?: DecodeLimits): Decoded<ObjectView> => {
  const lim = withLimits(limits);
  const r = new Reader(bytes);
  const k = header(r, OBJECT_TAG, 'object', lim);
  if (r.reason !== null) return objectViewSlow(bytes, lim);
  let prevStart = 0;
  let prevLen = 0;
  for (let i = 0; i < k; i++) {
    const len = r.varint('id length');
    if (len <= 0 || len > lim.maxIdBytes || len > bytes.length - r.pos) return objectViewSlow(bytes, lim);
    const start = r.pos;
    for (let j = start; j < start + len; j++) {
      // Byte order equals JS string order for ASCII only; other ids take the full decode.
      if ((bytes[j] as number) >= 0x80) return objectViewSlow(bytes, lim);
    }
    if (i > 0 && compareBytes(bytes, prevStart, prevLen, start, len) >= 0) return objectViewSlow(bytes, lim);
    prevStart = start;
    prevLen = len;
    r.pos += len;
  }
  const idsEnd = r.pos;
  // Counters are canonical varints in the object, so the context copies their bytes.
  const counterBounds = new Array<number>(2 * k);
  let counterBytes = 0;
  let totalValues = 0;
  for (let i = 0; i < k; i++) {
    const counterStart = r.pos;
    const counter = r.varint('counter');
    const counterEnd = r.pos;
    const count = r.varint('value count');
    if (r.reason !== null || counter === 0 || count > counter) return objectViewSlow(bytes, lim);
    totalValues += count;
    if (totalValues > lim.maxValues) return objectViewSlow(bytes, lim);
    counterBounds[2 * i] = counterStart;
    counterBounds[2 * i + 1] = counterEnd;
    counterBytes += counterEnd - counterStart;
  }
  if (totalValues > bytes.length - r.pos) return objectViewSlow(bytes, lim);
  const values = new Array<Uint8Array>(totalValues);
  for (let v = 0; v < totalValues; v++) {
    const len = r.varint('value length');
    if (r.reason !== null || len > bytes.length - r.pos) return objectViewSlow(bytes, lim);
    values[v] = new Uint8Array(bytes.buffer, bytes.byteOffset + r.pos, len);
    r.pos += len;
  }
  if (r.pos !== bytes.length) return objectViewSlow(bytes, lim);
  const context = allocOut(idsEnd + counterBytes);
  context[0] = CONTEXT_TAG;
  context.set(bytes.subarray(1, idsEnd), 1);
  let pos = idsEnd;
  for (let i = 0; i < k; i++) {
    const s = counterBounds[2 * i] as number;
    const e = counterBounds[2 * i + 1] as number;
    for (let j = s; j < e; j++) context[pos++] = bytes[j] as number;
  }
  return { ok: true, value: { context, values } };
};

/** Unsigned byte order of two ranges of `b`: negative, 0 or positive. */
const compareBytes = (b: Uint8Array, aStart: number, aLen: number, bStart: number, bLen: number): number => {
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = (b[aStart + i] as number) - (b[bStart + i] as number);
    if (d !== 0) return d;
  }
  return aLen - bLen;
};

// Anything the fast scan does not take (non-ASCII ids, or bytes it refuses)
// goes through decodeObject, so both accept and refuse exactly the same bytes.
const objectViewSlow = (bytes: Uint8Array, lim: Required<DecodeLimits>): Decoded<ObjectView> => {
  const d = decodeObject(bytes, { ...lim, copyValues: false });
  if (!d.ok) return d;
  const context = new Array<ContextEntry>(d.value.length);
  const values: Uint8Array[] = [];
  for (let i = 0; i < d.value.length; i++) {
    const e = d.value[i] as Entry<Uint8Array>;
    context[i] = { id: e.id, counter: e.counter };
    for (const v of e.values) values.push(v);
  }
  return { ok: true, value: { context: encodeContext(context), values } };
};

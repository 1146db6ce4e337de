/**
 * Field-level reading and checking shared by the client-message codec
 * (messages.ts) and the node-to-node codec (peer.ts): one bounds-checked
 * Reader, one "malformed body" signal, one set of encode-side argument
 * checks, so both codecs refuse the same bad field with the same reason.
 */
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../src/errors.js';
import { MAX_U16 } from './opcodes.js';

export const EMPTY = new Uint8Array(0);

/** A body that breaks the layout; each codec catches it and returns KV_BAD_FRAME with the reason. */
export class Malformed {
  constructor(readonly reason: string) {}
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a body front to back; every read checks the bytes left first. The
 * body is b[start, limit): a frame's body is read where it lies in the
 * socket's chunk, without a view of it.
 */
export class Reader {
  at: number;
  // Created on first use: most bodies never read an f64 or a u64.
  private dv: DataView | undefined;
  constructor(
    readonly b: Uint8Array,
    start = 0,
    readonly limit: number = b.length,
  ) {
    this.at = start;
  }

  private get view(): DataView {
    return (this.dv ??= new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength));
  }
  need(n: number, what: string): void {
    if (n > this.limit - this.at) throw new Malformed(`${what} needs ${n} bytes, ${this.limit - this.at} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.at++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const b = this.b;
    const v = (b[this.at]! << 8) | b[this.at + 1]!;
    this.at += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const b = this.b;
    const o = this.at;
    this.at += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  /** A u64 counter; JS numbers hold it exactly only up to 2^53 - 1. */
  counter(what: string): number {
    this.need(8, what);
    const hi = this.view.getUint32(this.at);
    const lo = this.view.getUint32(this.at + 4);
    this.at += 8;
    if (hi > 0x1fffff) throw new Malformed(`${what} above 2^53-1`);
    return hi * 0x100000000 + lo;
  }
  u64big(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.at);
    this.at += 8;
    return v;
  }
  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.at);
    this.at += 8;
    return v;
  }
  flags(what: string, defined: number): number {
    const v = this.u8(what);
    if ((v & ~defined) !== 0) throw new Malformed(`${what}: reserved bits set`);
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    if (n === 0) return EMPTY;
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  bytes16(what: string): Uint8Array {
    return this.bytes(this.u16(what), what);
  }
  bytes32(what: string): Uint8Array {
    return this.bytes(this.u32(what), what);
  }
  /** A non-empty u16-length key. */
  key(what: string): Uint8Array {
    const k = this.bytes16(what);
    if (k.length === 0) throw new Malformed(`${what} is empty`);
    return k;
  }
  str(what: string): string {
    const raw = this.bytes16(what);
    if (raw.length === 0) return '';
    try {
      return utf8Strict.decode(raw);
    } catch {
      throw new Malformed(`${what} is not valid UTF-8`);
    }
  }
  /** A u16 list count, refused before any allocation when `minItemBytes` each cannot fit. */
  count(what: string, minItemBytes: number): number {
    const n = this.u16(`${what} count`);
    this.need(n * minItemBytes, what);
    return n;
  }
  rest(): Uint8Array {
    const v = this.at === this.limit ? EMPTY : this.b.subarray(this.at, this.limit);
    this.at = this.limit;
    return v;
  }
  end(): void {
    if (this.at !== this.limit) throw new Malformed(`${this.limit - this.at} trailing bytes after the body`);
  }
}

// ---------------------------------------------------------------- encode-side checks

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const bad = (what: string): KvError => new KvError('KV_BAD_ARGUMENT', what);

export const checkUint = (name: string, v: number, max: number): void => {
  if (!Number.isInteger(v) || v < 0 || v > max) throw bad(`${name} must be an integer in 0..${max}, got ${String(v)}`);
};

export const checkBytes = (name: string, v: Uint8Array, max: number): number => {
  if (!(v instanceof Uint8Array)) throw bad(`${name} must be a Uint8Array`);
  if (v.length > max) throw new KvError('KV_TOO_LARGE', `${name} of ${v.length} bytes > ${max}`);
  return v.length;
};

/** UTF-8 length of a u16-length string field; refuses lone surrogates (they would not round-trip). */
export const strBytes = (name: string, s: string): number => {
  if (typeof s !== 'string') throw bad(`${name} must be a string`);
  if (s.length === 0) return 0;
  if (LONE_SURROGATE.test(s)) throw bad(`${name} is not well-formed UTF-16`);
  const n = Buffer.byteLength(s, 'utf8');
  if (n > MAX_U16) throw new KvError('KV_TOO_LARGE', `${name} of ${n} UTF-8 bytes > ${MAX_U16}`);
  return n;
};

/**
 * Runs a body reader over a whole body, which it must use up: layout faults
 * become KV_BAD_FRAME with the reason, anything else KV_INTERNAL naming the
 * `codec` (a decoder bug, not the peer's). Never throws.
 */
export const decodeWhole = <A>(codec: string, body: Uint8Array, read: (r: Reader) => A): E.Either<KvError, A> => {
  if (!(body instanceof Uint8Array)) return E.left(new KvError('KV_BAD_FRAME', 'body is not bytes'));
  const r = new Reader(body);
  try {
    const a = read(r);
    r.end();
    return E.right(a);
  } catch (e) {
    if (e instanceof Malformed) return E.left(new KvError('KV_BAD_FRAME', e.reason));
    return E.left(new KvError('KV_INTERNAL', `${codec} body decoder failed`, { cause: e }));
  }
};

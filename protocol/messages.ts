/**
 * Protocol v1 messages: the typed model, whole-frame encoders (size first,
 * then one write) and body decoders that validate every length.
 *
 * Laws (tested in test/protocol/roundtrip.test.ts):
 *   decodeMessage(decodeFrame(encode(m))) = right(m)   for every valid m
 *   encodedSize(m) = encode(m).length
 *
 * Decoded keys, values, contexts and payloads are subarrays of the frame
 * (zero-copy): they alias the receive buffer. Copy what you keep past the
 * handling of the frame.
 */
import * as E from 'fp-ts/lib/Either.js';
import { isErrorCode, KvError } from '../src/errors.js';
import { EMPTY, Malformed, Reader, bad, checkBytes, checkUint, strBytes } from './fields.js';
import type { Frame } from './frame.js';
import { bodyReader, writeHeader } from './frame.js';
import {
  CONNECTION_STREAM,
  FLAG_RESPONSE,
  isNodeOpcode,
  MAX_U16,
  MAX_U32,
  MIN_FRAME_BYTES,
  NO_LIMITS,
  Opcode,
  PROTOCOL_VERSION,
  Role,
  type Limits,
  type RoleName,
} from './opcodes.js';

// ---------------------------------------------------------------- model

export interface Hello {
  readonly op: 'HELLO';
  readonly streamId: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly role: RoleName;
  readonly clientName: string;
  /** The sender's node id when role is `node`; empty for clients. */
  readonly nodeId: string;
  /** Empty in v1 (no authentication); room for SCRAM/HMAC later. */
  readonly authMechanism: string;
  readonly authPayload: Uint8Array;
}

export interface HelloOk {
  readonly op: 'HELLO_OK';
  readonly streamId: number;
  readonly version: number;
  readonly nodeId: string;
  readonly maxFrameBytes: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxInFlight: number;
  readonly ringVersion: bigint;
}

/**
 * One step of an authentication exchange inside the handshake (§17): the
 * initiator's next message (AUTH) or the acceptor's challenge or final
 * answer (AUTH_REPLY). The payload's layout belongs to the HELLO's mechanism.
 */
export interface Auth {
  readonly op: 'AUTH';
  readonly streamId: number;
  readonly payload: Uint8Array;
}

export interface AuthReply {
  readonly op: 'AUTH_REPLY';
  readonly streamId: number;
  readonly payload: Uint8Array;
}

export interface ErrorMessage {
  readonly op: 'ERROR';
  readonly streamId: number;
  /** A stable `KV_*` code; receivers must accept codes they do not know. */
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

export interface Ping {
  readonly op: 'PING';
  readonly streamId: number;
  readonly payload: Uint8Array;
}

export interface Pong {
  readonly op: 'PONG';
  readonly streamId: number;
  readonly payload: Uint8Array;
}

export interface Get {
  readonly op: 'GET';
  readonly streamId: number;
  readonly key: Uint8Array;
  /** Read quorum override; 0 = the namespace default. */
  readonly r: number;
  /** 0 = the server default. */
  readonly timeoutMs: number;
}

export interface Sibling {
  readonly value: Uint8Array;
  readonly tombstone: boolean;
}

export interface GetReply {
  readonly op: 'GET_REPLY';
  readonly streamId: number;
  readonly found: boolean;
  readonly context: Uint8Array;
  readonly siblings: readonly Sibling[];
}

export interface Put {
  readonly op: 'PUT';
  readonly streamId: number;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Opaque context from a GET; empty = blind write (adds a sibling). */
  readonly context: Uint8Array;
  /** Write quorum override; 0 = the namespace default. */
  readonly w: number;
  readonly timeoutMs: number;
}

export interface PutReply {
  readonly op: 'PUT_REPLY';
  readonly streamId: number;
  /** The context after the write (read-your-writes); may be empty. */
  readonly context: Uint8Array;
}

export interface Delete {
  readonly op: 'DELETE';
  readonly streamId: number;
  readonly key: Uint8Array;
  readonly context: Uint8Array;
  readonly w: number;
  readonly timeoutMs: number;
}

export interface DeleteReply {
  readonly op: 'DELETE_REPLY';
  readonly streamId: number;
  /** The context of the tombstone; may be empty. */
  readonly context: Uint8Array;
}

export interface Stats {
  readonly op: 'STATS';
  readonly streamId: number;
}

export interface Stat {
  readonly name: string;
  readonly value: number;
}

export interface StatsReply {
  readonly op: 'STATS_REPLY';
  readonly streamId: number;
  readonly stats: readonly Stat[];
}

/** Body defined by the cluster issue; opaque in v1. */
export interface Ring {
  readonly op: 'RING';
  readonly streamId: number;
  readonly body: Uint8Array;
}

export interface RingReply {
  readonly op: 'RING_REPLY';
  readonly streamId: number;
  readonly body: Uint8Array;
}

/** Anti-entropy admin requests and replies (§16); bodies are `rest` here, laid out by protocol/aae_admin.ts. */
export interface AaeAdmin {
  readonly op: 'AAE_EXCHANGE' | 'AAE_EXCHANGE_REPLY' | 'AAE_STATUS' | 'AAE_STATUS_REPLY';
  readonly streamId: number;
  readonly body: Uint8Array;
}

/** Node-to-node traffic (opcodes 0x40..0x7F); bodies are defined by the cluster issue. */
export interface NodeMessage {
  readonly op: 'NODE';
  readonly streamId: number;
  readonly opcode: number;
  readonly response: boolean;
  readonly body: Uint8Array;
}

export type Request = Hello | Auth | Ping | Get | Put | Delete | Stats | Ring | (AaeAdmin & { readonly op: 'AAE_EXCHANGE' | 'AAE_STATUS' });
export type Reply = HelloOk | AuthReply | ErrorMessage | Pong | GetReply | PutReply | DeleteReply | StatsReply | RingReply | (AaeAdmin & { readonly op: 'AAE_EXCHANGE_REPLY' | 'AAE_STATUS_REPLY' });
export type Message = Request | Reply | NodeMessage;
export type MessageOp = Message['op'];

/** Each named op's opcode and whether it travels with FLAG_RESPONSE. */
export const OPS: { readonly [K in Exclude<MessageOp, 'NODE'>]: { readonly opcode: number; readonly response: boolean } } = {
  HELLO: { opcode: Opcode.HELLO, response: false },
  HELLO_OK: { opcode: Opcode.HELLO, response: true },
  ERROR: { opcode: Opcode.ERROR, response: true },
  AUTH: { opcode: Opcode.AUTH, response: false },
  AUTH_REPLY: { opcode: Opcode.AUTH, response: true },
  PING: { opcode: Opcode.PING, response: false },
  PONG: { opcode: Opcode.PING, response: true },
  GET: { opcode: Opcode.GET, response: false },
  GET_REPLY: { opcode: Opcode.GET, response: true },
  PUT: { opcode: Opcode.PUT, response: false },
  PUT_REPLY: { opcode: Opcode.PUT, response: true },
  DELETE: { opcode: Opcode.DELETE, response: false },
  DELETE_REPLY: { opcode: Opcode.DELETE, response: true },
  STATS: { opcode: Opcode.STATS, response: false },
  STATS_REPLY: { opcode: Opcode.STATS, response: true },
  RING: { opcode: Opcode.RING, response: false },
  RING_REPLY: { opcode: Opcode.RING, response: true },
  AAE_EXCHANGE: { opcode: Opcode.AAE_EXCHANGE, response: false },
  AAE_EXCHANGE_REPLY: { opcode: Opcode.AAE_EXCHANGE, response: true },
  AAE_STATUS: { opcode: Opcode.AAE_STATUS, response: false },
  AAE_STATUS_REPLY: { opcode: Opcode.AAE_STATUS, response: true },
};

// ---------------------------------------------------------------- sizes (and encoder-side validation)

const utf8 = new TextEncoder();






/** Messages that belong to the handshake and travel on stream 0 only. */
const isHandshakeOp = (op: MessageOp): boolean => op === 'HELLO' || op === 'HELLO_OK' || op === 'AUTH' || op === 'AUTH_REPLY';

const checkStream = (m: Message): void => {
  checkUint('streamId', m.streamId, MAX_U32);
  if (isHandshakeOp(m.op)) {
    if (m.streamId !== CONNECTION_STREAM) throw bad(`${m.op} must use stream 0`);
  } else if (m.op !== 'ERROR' && m.streamId === CONNECTION_STREAM) {
    throw bad(`${m.op} must not use stream 0`);
  }
};

/** Body size in bytes; validates every field the encoder will write (throws KvError). */
const bodySize = (m: Message): number => {
  switch (m.op) {
    case 'HELLO':
      checkUint('minVersion', m.minVersion, 0xff);
      checkUint('maxVersion', m.maxVersion, 0xff);
      if (m.minVersion < 1 || m.minVersion > m.maxVersion) throw bad('need 1 <= minVersion <= maxVersion');
      if (Role[m.role] === undefined) throw bad(`role must be client or node`);
      return (
        3 +
        2 + strBytes('clientName', m.clientName) +
        2 + strBytes('nodeId', m.nodeId) +
        2 + strBytes('authMechanism', m.authMechanism) +
        4 + checkBytes('authPayload', m.authPayload, MAX_U32)
      );
    case 'HELLO_OK':
      checkUint('version', m.version, 0xff);
      checkUint('maxFrameBytes', m.maxFrameBytes, MAX_U32);
      checkUint('maxKeyBytes', m.maxKeyBytes, MAX_U32);
      checkUint('maxValueBytes', m.maxValueBytes, MAX_U32);
      checkUint('maxInFlight', m.maxInFlight, MAX_U32);
      if (typeof m.ringVersion !== 'bigint' || m.ringVersion < 0n || m.ringVersion > 0xffffffffffffffffn) {
        throw bad('ringVersion must be a bigint in 0..2^64-1');
      }
      return 1 + 16 + 8 + 2 + strBytes('nodeId', m.nodeId);
    case 'ERROR':
      if (typeof m.retryable !== 'boolean') throw bad('retryable must be a boolean');
      return 1 + 2 + strBytes('code', m.code) + 2 + strBytes('message', m.message);
    case 'PING':
    case 'PONG':
    case 'AUTH':
    case 'AUTH_REPLY':
      return 4 + checkBytes('payload', m.payload, MAX_U32);
    case 'GET':
      checkUint('r', m.r, 0xff);
      checkUint('timeoutMs', m.timeoutMs, MAX_U32);
      return 1 + 4 + 2 + checkBytes('key', m.key, MAX_U16);
    case 'GET_REPLY': {
      if (!Array.isArray(m.siblings)) throw bad('siblings must be an array');
      if (m.siblings.length > MAX_U16) throw new KvError('KV_TOO_LARGE', `${m.siblings.length} siblings > ${MAX_U16}`);
      let n = 1 + 4 + checkBytes('context', m.context, MAX_U32) + 2;
      for (const s of m.siblings) n += 1 + 4 + checkBytes('sibling value', s.value, MAX_U32);
      return n;
    }
    case 'PUT':
      checkUint('w', m.w, 0xff);
      checkUint('timeoutMs', m.timeoutMs, MAX_U32);
      return (
        1 + 4 +
        2 + checkBytes('key', m.key, MAX_U16) +
        4 + checkBytes('context', m.context, MAX_U32) +
        4 + checkBytes('value', m.value, MAX_U32)
      );
    case 'DELETE':
      checkUint('w', m.w, 0xff);
      checkUint('timeoutMs', m.timeoutMs, MAX_U32);
      return 1 + 4 + 2 + checkBytes('key', m.key, MAX_U16) + 4 + checkBytes('context', m.context, MAX_U32);
    case 'PUT_REPLY':
    case 'DELETE_REPLY':
      return 4 + checkBytes('context', m.context, MAX_U32);
    case 'STATS':
      return 0;
    case 'STATS_REPLY': {
      if (!Array.isArray(m.stats)) throw bad('stats must be an array');
      if (m.stats.length > MAX_U16) throw new KvError('KV_TOO_LARGE', `${m.stats.length} stats > ${MAX_U16}`);
      let n = 2;
      for (const s of m.stats) {
        if (typeof s.value !== 'number') throw bad('stat value must be a number');
        n += 2 + strBytes('stat name', s.name) + 8;
      }
      return n;
    }
    case 'RING':
    case 'RING_REPLY':
    case 'AAE_EXCHANGE':
    case 'AAE_EXCHANGE_REPLY':
    case 'AAE_STATUS':
    case 'AAE_STATUS_REPLY':
      return checkBytes('body', m.body, MAX_U32);
    case 'NODE':
      if (!isNodeOpcode(m.opcode)) throw bad(`node opcode must be in 0x40..0x7f, got ${m.opcode}`);
      if (typeof m.response !== 'boolean') throw bad('response must be a boolean');
      return checkBytes('body', m.body, MAX_U32);
    default:
      throw bad(`unknown op ${(m as { op: unknown }).op}`);
  }
};

/** Bytes of the whole frame that encodes `m` (prefix included). Throws KvError if `m` cannot be encoded. */
export const encodedSize = (m: Message): number => {
  checkStream(m);
  const size = MIN_FRAME_BYTES + bodySize(m);
  if (size - 4 > MAX_U32) throw new KvError('KV_TOO_LARGE', `frame of ${size} bytes does not fit the u32 length`);
  return size;
};

// ---------------------------------------------------------------- encoding

const putU16 = (out: Uint8Array, o: number, v: number): number => {
  out[o] = v >>> 8;
  out[o + 1] = v;
  return o + 2;
};

const putU32 = (out: Uint8Array, o: number, v: number): number => {
  out[o] = v >>> 24;
  out[o + 1] = v >>> 16;
  out[o + 2] = v >>> 8;
  out[o + 3] = v;
  return o + 4;
};

const putBytes32 = (out: Uint8Array, o: number, v: Uint8Array): number => {
  o = putU32(out, o, v.length);
  out.set(v, o);
  return o + v.length;
};

const putKey = (out: Uint8Array, o: number, v: Uint8Array): number => {
  o = putU16(out, o, v.length);
  out.set(v, o);
  return o + v.length;
};

const putStr = (out: Uint8Array, o: number, s: string): number => {
  if (s.length === 0) return putU16(out, o, 0);
  const { written } = utf8.encodeInto(s, out.subarray(o + 2));
  putU16(out, o, written);
  return o + 2 + written;
};

const f64 = new DataView(new ArrayBuffer(8));

const writeBody = (m: Message, out: Uint8Array, o: number): number => {
  switch (m.op) {
    case 'HELLO':
      out[o++] = m.minVersion;
      out[o++] = m.maxVersion;
      out[o++] = Role[m.role];
      o = putStr(out, o, m.clientName);
      o = putStr(out, o, m.nodeId);
      o = putStr(out, o, m.authMechanism);
      return putBytes32(out, o, m.authPayload);
    case 'HELLO_OK':
      out[o++] = m.version;
      o = putU32(out, o, m.maxFrameBytes);
      o = putU32(out, o, m.maxKeyBytes);
      o = putU32(out, o, m.maxValueBytes);
      o = putU32(out, o, m.maxInFlight);
      o = putU32(out, o, Number(m.ringVersion >> 32n));
      o = putU32(out, o, Number(m.ringVersion & 0xffffffffn));
      return putStr(out, o, m.nodeId);
    case 'ERROR':
      out[o++] = m.retryable ? 1 : 0;
      o = putStr(out, o, m.code);
      return putStr(out, o, m.message);
    case 'PING':
    case 'PONG':
    case 'AUTH':
    case 'AUTH_REPLY':
      return putBytes32(out, o, m.payload);
    case 'GET':
      out[o++] = m.r;
      o = putU32(out, o, m.timeoutMs);
      return putKey(out, o, m.key);
    case 'GET_REPLY':
      out[o++] = m.found ? 1 : 0;
      o = putBytes32(out, o, m.context);
      o = putU16(out, o, m.siblings.length);
      for (const s of m.siblings) {
        out[o++] = s.tombstone ? 1 : 0;
        o = putBytes32(out, o, s.value);
      }
      return o;
    case 'PUT':
      out[o++] = m.w;
      o = putU32(out, o, m.timeoutMs);
      o = putKey(out, o, m.key);
      o = putBytes32(out, o, m.context);
      return putBytes32(out, o, m.value);
    case 'DELETE':
      out[o++] = m.w;
      o = putU32(out, o, m.timeoutMs);
      o = putKey(out, o, m.key);
      return putBytes32(out, o, m.context);
    case 'PUT_REPLY':
    case 'DELETE_REPLY':
      return putBytes32(out, o, m.context);
    case 'STATS':
      return o;
    case 'STATS_REPLY':
      o = putU16(out, o, m.stats.length);
      for (const s of m.stats) {
        o = putStr(out, o, s.name);
        f64.setFloat64(0, s.value, false);
        for (let i = 0; i < 8; i++) out[o++] = f64.getUint8(i);
      }
      return o;
    case 'RING':
    case 'RING_REPLY':
    case 'AAE_EXCHANGE':
    case 'AAE_EXCHANGE_REPLY':
    case 'AAE_STATUS':
    case 'AAE_STATUS_REPLY':
    case 'NODE':
      out.set(m.body, o);
      return o + m.body.length;
  }
};

const opcodeOf = (m: Message): number => (m.op === 'NODE' ? m.opcode : OPS[m.op].opcode);
const flagsOf = (m: Message): number => ((m.op === 'NODE' ? m.response : OPS[m.op].response) ? FLAG_RESPONSE : 0);

/**
 * Writes the whole frame of `m` at `out[offset..]` and returns the offset
 * after it. Throws KvError (KV_BAD_ARGUMENT, KV_TOO_LARGE) if `m` is invalid,
 * RangeError if `out` is too small; nothing is written in either case.
 */
export const encodeInto = (m: Message, out: Uint8Array, offset: number, version = PROTOCOL_VERSION): number => {
  const size = encodedSize(m);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > out.length) {
    throw new RangeError(`frame of ${size} bytes does not fit at offset ${offset} of ${out.length}`);
  }
  return writeFrame(m, size, out, offset, version);
};

/** Writes a frame whose size the caller already computed with encodedSize. */
export const writeFrame = (m: Message, size: number, out: Uint8Array, offset: number, version = PROTOCOL_VERSION): number => {
  writeHeader(out, offset, size - MIN_FRAME_BYTES, version, opcodeOf(m), flagsOf(m), m.streamId);
  const end = writeBody(m, out, offset + MIN_FRAME_BYTES);
  // A mismatch would mean bodySize and writeBody disagree: a codec bug, never input.
  if (end !== offset + size) throw new KvError('KV_INTERNAL', `encoder wrote ${end - offset} bytes, sized ${size}`);
  return end;
};

/** The whole frame of `m` in one freshly allocated Buffer of exactly its size. */
export const encode = (m: Message, version = PROTOCOL_VERSION): Buffer => {
  const size = encodedSize(m);
  const out = Buffer.allocUnsafe(size);
  writeFrame(m, size, out, 0, version);
  return out;
};

// ---------------------------------------------------------------- decoding


const roleName = (v: number): RoleName => {
  if (v === Role.client) return 'client';
  if (v === Role.node) return 'node';
  throw new Malformed(`role ${v} unknown`);
};

const decodeBody = (opcode: number, response: boolean, streamId: number, r: Reader): Message => {
  switch (opcode) {
    case Opcode.HELLO:
      if (streamId !== CONNECTION_STREAM) throw new Malformed('HELLO must use stream 0');
      if (!response) {
        const minVersion = r.u8('minVersion');
        const maxVersion = r.u8('maxVersion');
        if (minVersion < 1 || minVersion > maxVersion) throw new Malformed('need 1 <= minVersion <= maxVersion');
        const role = roleName(r.u8('role'));
        const clientName = r.str('clientName');
        const nodeId = r.str('nodeId');
        const authMechanism = r.str('authMechanism');
        const authPayload = r.bytes32('authPayload');
        return { op: 'HELLO', streamId, minVersion, maxVersion, role, clientName, nodeId, authMechanism, authPayload };
      } else {
        const version = r.u8('version');
        const maxFrameBytes = r.u32('maxFrameBytes');
        const maxKeyBytes = r.u32('maxKeyBytes');
        const maxValueBytes = r.u32('maxValueBytes');
        const maxInFlight = r.u32('maxInFlight');
        const hi = r.u32('ringVersion');
        const lo = r.u32('ringVersion');
        const ringVersion = (BigInt(hi) << 32n) | BigInt(lo);
        const nodeId = r.str('nodeId');
        return { op: 'HELLO_OK', streamId, version, nodeId, maxFrameBytes, maxKeyBytes, maxValueBytes, maxInFlight, ringVersion };
      }
    case Opcode.ERROR: {
      if (!response) throw new Malformed('ERROR without the response flag');
      const retryable = r.flags('error flags', 1) === 1;
      const code = r.str('code');
      const message = r.str('message');
      return { op: 'ERROR', streamId, code, message, retryable };
    }
    case Opcode.PING:
      return { op: response ? 'PONG' : 'PING', streamId, payload: r.bytes32('payload') };
    case Opcode.AUTH:
      if (streamId !== CONNECTION_STREAM) throw new Malformed('AUTH must use stream 0');
      return { op: response ? 'AUTH_REPLY' : 'AUTH', streamId, payload: r.bytes32('payload') };
    case Opcode.GET:
      if (!response) {
        const rq = r.u8('r');
        const timeoutMs = r.u32('timeoutMs');
        const key = r.bytes16('key');
        return { op: 'GET', streamId, key, r: rq, timeoutMs };
      } else {
        const found = r.flags('get reply flags', 1) === 1;
        const context = r.bytes32('context');
        const count = r.u16('sibling count');
        // Each sibling takes at least 5 bytes: refuse an impossible count before building the array.
        r.need(count * 5, 'siblings');
        const siblings: Sibling[] = new Array<Sibling>(count);
        for (let i = 0; i < count; i++) {
          const tombstone = r.flags('sibling flags', 1) === 1;
          siblings[i] = { value: r.bytes32('sibling value'), tombstone };
        }
        return { op: 'GET_REPLY', streamId, found, context, siblings };
      }
    case Opcode.PUT:
      if (!response) {
        const w = r.u8('w');
        const timeoutMs = r.u32('timeoutMs');
        const key = r.bytes16('key');
        const context = r.bytes32('context');
        const value = r.bytes32('value');
        return { op: 'PUT', streamId, key, value, context, w, timeoutMs };
      }
      return { op: 'PUT_REPLY', streamId, context: r.bytes32('context') };
    case Opcode.DELETE:
      if (!response) {
        const w = r.u8('w');
        const timeoutMs = r.u32('timeoutMs');
        const key = r.bytes16('key');
        const context = r.bytes32('context');
        return { op: 'DELETE', streamId, key, context, w, timeoutMs };
      }
      return { op: 'DELETE_REPLY', streamId, context: r.bytes32('context') };
    case Opcode.STATS:
      if (!response) return { op: 'STATS', streamId };
      {
        const count = r.u16('stat count');
        r.need(count * 10, 'stats');
        const stats: Stat[] = new Array<Stat>(count);
        for (let i = 0; i < count; i++) {
          const name = r.str('stat name');
          stats[i] = { name, value: r.f64('stat value') };
        }
        return { op: 'STATS_REPLY', streamId, stats };
      }
    case Opcode.RING:
      return { op: response ? 'RING_REPLY' : 'RING', streamId, body: r.rest() };
    case Opcode.AAE_EXCHANGE:
      return { op: response ? 'AAE_EXCHANGE_REPLY' : 'AAE_EXCHANGE', streamId, body: r.rest() };
    case Opcode.AAE_STATUS:
      return { op: response ? 'AAE_STATUS_REPLY' : 'AAE_STATUS', streamId, body: r.rest() };
    default:
      // Unreachable: decodeMessage routes only known and node opcodes here.
      return { op: 'NODE', streamId, opcode, response, body: r.rest() };
  }
};

const KNOWN_OPCODES: ReadonlySet<number> = new Set(Object.values(Opcode));

/**
 * Decodes a frame's body into a typed message. Never throws; a Left is a
 * KvError whose code says what the receiver does:
 *
 * - KV_BAD_FRAME: the body breaks the layout (or a stream-id rule). Answer
 *   ERROR on stream 0 and close the connection.
 * - KV_UNSUPPORTED: a request with an opcode this codec does not know. Answer
 *   ERROR KV_UNSUPPORTED on the frame's stream; the connection stays open.
 *   (A *response* with an unknown opcode is KV_BAD_FRAME: nobody asked.)
 * - KV_TOO_LARGE / KV_BAD_ARGUMENT: a well-formed request whose key or value
 *   breaks `limits` (empty key, key > maxKeyBytes, value > maxValueBytes).
 *   Answer ERROR with that code on the frame's stream; the connection stays open.
 *
 * `limits` bind requests only (they are what a server announced in
 * HELLO_OK); replies are checked against the layout alone.
 */
export const decodeMessage = (frame: Frame, limits: Limits = NO_LIMITS): E.Either<KvError, Message> => {
  const { opcode, streamId } = frame;
  const response = (frame.flags & FLAG_RESPONSE) !== 0;
  const known = KNOWN_OPCODES.has(opcode);
  if (!known && !isNodeOpcode(opcode)) {
    return E.left(
      response
        ? new KvError('KV_BAD_FRAME', `response with unknown opcode 0x${opcode.toString(16)}`)
        : new KvError('KV_UNSUPPORTED', `opcode 0x${opcode.toString(16)} not supported`),
    );
  }
  const r = bodyReader(frame);
  let m: Message;
  try {
    m = known ? decodeBody(opcode, response, streamId, r) : { op: 'NODE', streamId, opcode, response, body: r.rest() };
    r.end();
  } catch (e) {
    if (e instanceof Malformed) return E.left(new KvError('KV_BAD_FRAME', e.reason));
    return E.left(new KvError('KV_INTERNAL', 'body decoder failed', { cause: e }));
  }
  if (!isHandshakeOp(m.op) && m.op !== 'ERROR' && streamId === CONNECTION_STREAM) {
    return E.left(new KvError('KV_BAD_FRAME', `${m.op} on stream 0`));
  }
  if (m.op === 'GET' || m.op === 'PUT' || m.op === 'DELETE') {
    if (m.key.length === 0) return E.left(new KvError('KV_BAD_ARGUMENT', 'empty key'));
    if (m.key.length > limits.maxKeyBytes) {
      return E.left(new KvError('KV_TOO_LARGE', `key of ${m.key.length} bytes > maxKeyBytes ${limits.maxKeyBytes}`));
    }
    if (m.op === 'PUT' && m.value.length > limits.maxValueBytes) {
      return E.left(new KvError('KV_TOO_LARGE', `value of ${m.value.length} bytes > maxValueBytes ${limits.maxValueBytes}`));
    }
  }
  return E.right(m);
};

/** True when a decodeMessage error means "send ERROR on stream 0 and close". */
export const closesConnection = (e: KvError): boolean => e.code === 'KV_BAD_FRAME' || e.code === 'KV_INTERNAL';

/** The KvError an ERROR message stands for (unknown codes become KV_INTERNAL, the wire code kept in the text). */
export const toKvError = (m: ErrorMessage): KvError => {
  const code = isErrorCode(m.code) ? m.code : 'KV_INTERNAL';
  return new KvError(code, code === m.code ? m.message : `${m.code}: ${m.message}`);
};

/**
 * Node-to-node messages on the wire: the codec for the model in
 * peer_messages.ts and the RING_REPLY body. PROTOCOL.md §14 "Node-to-node
 * messages" is the normative layout; vectors/peer_*.json hold exact frames.
 *
 * Peer messages ride the ordinary framing: a request is a `NodeMessage`
 * (opcode 0x40..0x44, no response flag), its reply the same opcode with the
 * response flag, and PEER_ERROR is the ordinary ERROR frame (opcode 0x02).
 * So FrameWriter/FrameDecoder/decodeMessage carry them unchanged and this
 * module only turns bodies into typed messages and back.
 *
 * Laws (tested in test/protocol/peer_roundtrip.test.ts):
 *   decodePeerRequest(peerToMessage(s, q))            = right(q)
 *   decodePeerReply(peerToMessage(s, a, t), t)        = right(a)   (t: the request type `a` answers)
 *   decodeRingBody(encodeRingBody(r))                 = right(r)
 * and the decoders never throw: garbage is a Left(KvError).
 *
 * Decoded keys and objects are subarrays of the message body (zero-copy),
 * which itself aliases the received chunk: copy what you keep past the
 * handling of the frame if that memory may be reused.
 */
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../src/errors.js';
import { MAX_Q_BITS, MIN_Q_BITS } from '../src/core/ring.js';
import { RETRYABLE_CODES } from './handshake.js';
import { toHex, fromHex } from './json.js';
import { encode, type ErrorMessage, type NodeMessage } from './messages.js';
import { EMPTY, Malformed, Reader, bad, checkBytes, checkUint, decodeWhole, strBytes } from './fields.js';
import { writeHeader } from './frame.js';
import { CONNECTION_STREAM, FLAG_RESPONSE, HEADER_BYTES, MAX_U16, MAX_U32, MIN_FRAME_BYTES, PROTOCOL_VERSION, isNodeOpcode } from './opcodes.js';
import { AAE_COPY_STATES } from './peer_messages.js';
import type {
  AaeCopyState,
  AaeItem,
  Forward,
  MembershipEntryWire,
  PeerReply,
  PeerRequest,
} from './peer_messages.js';

// ---------------------------------------------------------------- constants

/** Opcode of each peer request; its reply travels on the same opcode with the response flag. */
export const PeerOpcode = {
  REPLICA_GET: 0x40,
  REPLICA_PUT: 0x41,
  REPLICA_PUT_BATCH: 0x42,
  FORWARD: 0x43,
  GOSSIP: 0x44,
  // Anti-entropy (issue 7, PROTOCOL.md §16).
  AAE_TREE: 0x50,
  AAE_SEGMENTS: 0x51,
  AAE_FETCH: 0x52,
  AAE_TOMB_CHECK: 0x53,
  AAE_REAP: 0x54,
  // Issue 6 (§15): membership and partition transfer, 0x48..0x4F.
  RING_EXCHANGE: 0x48,
  TRANSFER_FETCH: 0x49,
  ADMIN: 0x4a,
} as const;
export type PeerOpcode = (typeof PeerOpcode)[keyof typeof PeerOpcode];

export type PeerRequestType = PeerRequest['type'];
export type PeerReplyType = PeerReply['type'];

/** The reply each request expects (PEER_ERROR may answer any of them). */
export const REPLY_TYPE: { readonly [K in PeerRequestType]: Exclude<PeerReplyType, 'PEER_ERROR'> } = {
  REPLICA_GET: 'REPLICA_GET_REPLY',
  REPLICA_PUT: 'ACK',
  REPLICA_PUT_BATCH: 'ACK',
  FORWARD: 'FORWARD_REPLY',
  GOSSIP: 'GOSSIP_REPLY',
  AAE_TREE: 'AAE_TREE_REPLY',
  AAE_SEGMENTS: 'AAE_SEGMENTS_REPLY',
  AAE_FETCH: 'AAE_FETCH_REPLY',
  AAE_TOMB_CHECK: 'AAE_TOMB_CHECK_REPLY',
  AAE_REAP: 'ACK',
  RING_EXCHANGE: 'RING_EXCHANGE_REPLY',
  TRANSFER_FETCH: 'TRANSFER_CHUNK',
  ADMIN: 'ACK',
};

/** ADMIN op byte. */
export const ADMIN_OPS = { leave: 1, remove: 2 } as const;
const ADMIN_OP_OF: readonly ('leave' | 'remove' | undefined)[] = [undefined, 'leave', 'remove'];

/** The request a reply type answers, for the replies that answer exactly one (ACK answers several). */
const REQUEST_OF_REPLY: ReadonlyMap<string, PeerRequestType> = (() => {
  const answers = new Map<string, PeerRequestType[]>();
  for (const [request, reply] of Object.entries(REPLY_TYPE) as [PeerRequestType, string][]) answers.set(reply, [...(answers.get(reply) ?? []), request]);
  return new Map([...answers].filter(([, requests]) => requests.length === 1).map(([reply, requests]) => [reply, requests[0]!]));
})();

const REQUEST_OF_OPCODE: ReadonlyMap<number, PeerRequestType> = new Map(
  (Object.entries(PeerOpcode) as [PeerRequestType, number][]).map(([t, o]) => [o, t]),
);

/** Membership status byte; the order is the join order of core/membership's statusRank. */
export const PEER_STATUSES = ['joining', 'up', 'leaving', 'down', 'removed'] as const;
const STATUS_BYTE: ReadonlyMap<string, number> = new Map(PEER_STATUSES.map((s, i) => [s, i]));

/** FORWARD op byte. */
export const FORWARD_OPS = { get: 1, put: 2, delete: 3 } as const;
const FORWARD_OP_OF: readonly (Forward['op'] | undefined)[] = [undefined, 'get', 'put', 'delete'];

/** Items in one REPLICA_PUT_BATCH (the u16 count). */
export const MAX_BATCH_ITEMS = MAX_U16;
/** Largest integer the u64 counters may carry: JS numbers are exact only up to here. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

// Least bytes each list item takes, checked against the bytes left before allocating.
const MIN_ITEM_BYTES = 2 + 2 + 1 + 4; // partition, key (>= 1 byte), object length
const MIN_SIBLING_BYTES = 1 + 4;
const MIN_ENTRY_BYTES = 2 + 1 + 2 + 1 + 8 + 8 + 8 + 8; // id (>= 1 byte), address, status, 3 x u64, f64
const MIN_MEMBER_BYTES = 2 + 1 + 2;
const MIN_AAE_ITEM_BYTES = 2 + 1 + 4 + 4; // key (>= 1 byte), hi, lo
const MIN_AAE_OBJECT_BYTES = 2 + 1 + 4; // key (>= 1 byte), object length
const AAE_STATE_BYTE: ReadonlyMap<string, number> = new Map(AAE_COPY_STATES.map((s, i) => [s, i]));
/** Entries of an AAE index or digest list (u32 counts: a tree level may have up to 2^24 nodes). */
export const MAX_AAE_LIST = 1 << 24;

// ---------------------------------------------------------------- the RING_REPLY body

export interface RingMember {
  readonly id: string;
  readonly address: string;
}

/** What RING_REPLY carries: the ring as the answering node sees it. */
export interface RingBody {
  /** 64-bit hash of the owners (equality only), as announced in HELLO_OK. */
  readonly ringVersion: bigint;
  /** Q = 2^qBits partitions. */
  readonly qBits: number;
  /** Replicas per key. */
  readonly n: number;
  readonly members: readonly RingMember[];
  /** owners[p] = index into `members` of partition p's owner; length Q. */
  readonly owners: readonly number[];
}

// ---------------------------------------------------------------- encoder-side validation





const checkKey = (name: string, v: Uint8Array): number => {
  const n = checkBytes(name, v, MAX_U16);
  // Clients cannot store an empty key, so a peer sending one is broken.
  if (n === 0) throw bad(`${name} must not be empty`);
  return n;
};


const checkList = (name: string, v: readonly unknown[], max = MAX_U16): void => {
  if (!Array.isArray(v)) throw bad(`${name} must be an array`);
  if (v.length > max) throw new KvError('KV_TOO_LARGE', `${v.length} ${name} > ${max}`);
};

const entrySize = (e: MembershipEntryWire): number => {
  const id = strBytes('entry id', e.id);
  if (id === 0) throw bad('entry id must not be empty');
  if (!STATUS_BYTE.has(e.status)) throw bad(`entry status ${String(e.status)} unknown`);
  checkUint('incarnation', e.incarnation, MAX_COUNTER);
  checkUint('heartbeat', e.heartbeat, MAX_COUNTER);
  checkUint('claimVersion', e.claimVersion, MAX_COUNTER);
  if (typeof e.weight !== 'number' || !Number.isFinite(e.weight) || e.weight <= 0) throw bad(`weight must be a positive finite number, got ${String(e.weight)}`);
  return 2 + id + 2 + strBytes('entry address', e.address) + 1 + 8 + 8 + 8 + 8;
};

const entriesSize = (entries: readonly MembershipEntryWire[]): number => {
  checkList('entries', entries);
  let n = 2;
  for (const e of entries) n += entrySize(e);
  return n;
};

const u32List = (name: string, v: readonly number[]): number => {
  checkList(name, v, MAX_AAE_LIST);
  for (const x of v) checkUint(name, x, MAX_U32);
  return 4 + 4 * v.length;
};

const aaeItemsSize = (items: readonly AaeItem[]): number => {
  let n = 0;
  for (const it of items) {
    checkUint('hi', it.hi, MAX_U32);
    checkUint('lo', it.lo, MAX_U32);
    n += 2 + checkKey('key', it.key) + 8;
  }
  return n;
};

const objectItemsSize = (items: readonly { readonly key: Uint8Array; readonly object: Uint8Array }[]): number => {
  checkList('items', items);
  let n = 2;
  for (const it of items) n += 2 + checkKey('key', it.key) + 4 + checkBytes('object', it.object, MAX_U32);
  return n;
};

/** Body bytes of `m`; validates every field the writer will write (throws KvError). */
const bodySize = (m: PeerRequest | PeerReply): number => {
  switch (m.type) {
    case 'REPLICA_GET':
      checkUint('partition', m.partition, MAX_U16);
      return 2 + 2 + checkKey('key', m.key);
    case 'REPLICA_PUT':
      checkUint('partition', m.partition, MAX_U16);
      return 2 + 2 + checkKey('key', m.key) + 2 + strBytes('hintFor', m.hintFor) + 4 + checkBytes('object', m.object, MAX_U32);
    case 'REPLICA_PUT_BATCH': {
      checkList('items', m.items, MAX_BATCH_ITEMS);
      let n = 2;
      for (const it of m.items) {
        checkUint('partition', it.partition, MAX_U16);
        n += 2 + 2 + checkKey('key', it.key) + 4 + checkBytes('object', it.object, MAX_U32);
      }
      return n;
    }
    case 'FORWARD':
      if (FORWARD_OPS[m.op] === undefined) throw bad(`forward op ${String(m.op)} unknown`);
      checkUint('quorum', m.quorum, 0xff);
      checkUint('timeoutMs', m.timeoutMs, MAX_U32);
      if (m.op !== 'put' && checkBytes('value', m.value, MAX_U32) !== 0) throw bad(`a forwarded ${m.op} carries no value`);
      if (m.op === 'get' && checkBytes('context', m.context, MAX_U32) !== 0) throw bad('a forwarded get carries no context');
      return 1 + 1 + 4 + 2 + checkKey('key', m.key) + 4 + checkBytes('context', m.context, MAX_U32) + 4 + checkBytes('value', m.value, MAX_U32);
    case 'GOSSIP':
    case 'GOSSIP_REPLY':
      return entriesSize(m.entries);
    case 'RING_EXCHANGE':
    case 'RING_EXCHANGE_REPLY':
      return 4 + checkBytes('ring', m.ring, MAX_U32);
    case 'TRANSFER_FETCH':
      checkUint('partition', m.partition, MAX_U16);
      checkUint('maxItems', m.maxItems, MAX_U16);
      checkUint('maxBytes', m.maxBytes, MAX_U32);
      return 2 + 2 + checkBytes('after', m.after, MAX_U16) + 2 + 4;
    case 'ADMIN':
      if (ADMIN_OPS[m.op] === undefined) throw bad(`admin op ${String(m.op)} unknown`);
      return 1 + 2 + strBytes('node', m.node);
    case 'TRANSFER_CHUNK': {
      if (typeof m.last !== 'boolean') throw bad('last must be a boolean');
      checkUint('keysTotal', m.keysTotal, MAX_U32);
      checkUint('checksum', m.checksum, MAX_U32);
      checkList('items', m.items, MAX_BATCH_ITEMS);
      let n = 1 + 4 + 4 + 2;
      for (const it of m.items) n += 2 + checkKey('key', it.key) + 4 + checkBytes('object', it.object, MAX_U32);
      return n;
    }
    case 'REPLICA_GET_REPLY':
      if (typeof m.found !== 'boolean') throw bad('found must be a boolean');
      if (!m.found && checkBytes('object', m.object, MAX_U32) !== 0) throw bad('a not-found reply carries no object');
      return 1 + 4 + checkBytes('object', m.object, MAX_U32);
    case 'ACK':
      checkUint('count', m.count, MAX_U32);
      return 4;
    case 'FORWARD_REPLY': {
      if (typeof m.found !== 'boolean') throw bad('found must be a boolean');
      checkList('siblings', m.siblings);
      let n = 1 + 4 + checkBytes('context', m.context, MAX_U32) + 2;
      for (const s of m.siblings) {
        if (typeof s.tombstone !== 'boolean') throw bad('tombstone must be a boolean');
        n += 1 + 4 + checkBytes('sibling value', s.value, MAX_U32);
      }
      return n;
    }
    case 'AAE_TREE':
      checkUint('partition', m.partition, MAX_U16);
      checkUint('leafBits', m.leafBits, 0xff);
      checkUint('fanoutBits', m.fanoutBits, 0xff);
      checkUint('level', m.level, 0xff);
      return 2 + 1 + 1 + 1 + u32List('indices', m.indices);
    case 'AAE_SEGMENTS':
      checkUint('partition', m.partition, MAX_U16);
      checkUint('leafBits', m.leafBits, 0xff);
      checkUint('fanoutBits', m.fanoutBits, 0xff);
      return 2 + 1 + 1 + u32List('segments', m.segments);
    case 'AAE_FETCH': {
      checkUint('partition', m.partition, MAX_U16);
      checkList('keys', m.keys);
      let n = 2 + 2;
      for (const k of m.keys) n += 2 + checkKey('key', k);
      return n;
    }
    case 'AAE_TOMB_CHECK':
      checkUint('partition', m.partition, MAX_U16);
      return 2 + objectItemsSize(m.items);
    case 'AAE_REAP':
      checkUint('partition', m.partition, MAX_U16);
      checkList('items', m.items);
      return 2 + 2 + aaeItemsSize(m.items);
    case 'AAE_TREE_REPLY':
      if (!Array.isArray(m.hi) || !Array.isArray(m.lo) || m.hi.length !== m.lo.length) throw bad('hi and lo must be arrays of one length');
      u32List('hi', m.hi);
      u32List('lo', m.lo);
      return 4 + 8 * m.hi.length;
    case 'AAE_SEGMENTS_REPLY':
      checkList('items', m.items, MAX_AAE_LIST);
      return 4 + aaeItemsSize(m.items);
    case 'AAE_FETCH_REPLY':
      return objectItemsSize(m.items);
    case 'AAE_TOMB_CHECK_REPLY':
      checkList('states', m.states);
      for (const st of m.states) {
        if (!AAE_STATE_BYTE.has(st.state)) throw bad(`copy state ${String(st.state)} unknown`);
        checkUint('hi', st.hi, MAX_U32);
        checkUint('lo', st.lo, MAX_U32);
      }
      return 2 + 9 * m.states.length;
    case 'PEER_ERROR':
      // Travels as an ERROR frame; messages.ts sizes and checks it.
      return 0;
    default:
      throw bad(`unknown peer message type ${String((m as { type: unknown }).type)}`);
  }
};

// ---------------------------------------------------------------- writing

/** Writes big-endian fields into a buffer sized beforehand. */
class Writer {
  constructor(
    readonly b: Buffer,
    public at = 0,
  ) {}
  u8(v: number): void {
    this.b[this.at++] = v;
  }
  // Plain byte stores: Buffer's write*BE calls re-check bounds and cost more on the hot path.
  u16(v: number): void {
    const b = this.b;
    b[this.at] = v >>> 8;
    b[this.at + 1] = v;
    this.at += 2;
  }
  u32(v: number): void {
    const b = this.b;
    b[this.at] = v >>> 24;
    b[this.at + 1] = v >>> 16;
    b[this.at + 2] = v >>> 8;
    b[this.at + 3] = v;
    this.at += 4;
  }
  u64(v: number): void {
    // v <= 2^53 - 1: the high word is exact after the division.
    this.b.writeUInt32BE(Math.floor(v / 0x100000000), this.at);
    this.b.writeUInt32BE(v % 0x100000000, this.at + 4);
    this.at += 8;
  }
  u64big(v: bigint): void {
    this.b.writeBigUInt64BE(v, this.at);
    this.at += 8;
  }
  f64(v: number): void {
    this.b.writeDoubleBE(v, this.at);
    this.at += 8;
  }
  raw(v: Uint8Array): void {
    this.b.set(v, this.at);
    this.at += v.length;
  }
  key(v: Uint8Array): void {
    this.u16(v.length);
    this.raw(v);
  }
  bytes32(v: Uint8Array): void {
    this.u32(v.length);
    this.raw(v);
  }
  str(s: string): void {
    const n = s.length === 0 ? 0 : this.b.write(s, this.at + 2, 'utf8');
    this.u16(n);
    this.at += n;
  }
}

const writeEntries = (w: Writer, entries: readonly MembershipEntryWire[]): void => {
  w.u16(entries.length);
  for (const e of entries) {
    w.str(e.id);
    w.str(e.address);
    w.u8(STATUS_BYTE.get(e.status)!);
    w.u64(e.incarnation);
    w.u64(e.heartbeat);
    w.u64(e.claimVersion);
    w.f64(e.weight);
  }
};

const writeBody = (m: PeerRequest | PeerReply, w: Writer): void => {
  switch (m.type) {
    case 'REPLICA_GET':
      w.u16(m.partition);
      return w.key(m.key);
    case 'REPLICA_PUT':
      w.u16(m.partition);
      w.key(m.key);
      w.str(m.hintFor);
      return w.bytes32(m.object);
    case 'REPLICA_PUT_BATCH':
      w.u16(m.items.length);
      for (const it of m.items) {
        w.u16(it.partition);
        w.key(it.key);
        w.bytes32(it.object);
      }
      return;
    case 'FORWARD':
      w.u8(FORWARD_OPS[m.op]);
      w.u8(m.quorum);
      w.u32(m.timeoutMs);
      w.key(m.key);
      w.bytes32(m.context);
      return w.bytes32(m.value);
    case 'GOSSIP':
    case 'GOSSIP_REPLY':
      return writeEntries(w, m.entries);
    case 'RING_EXCHANGE':
    case 'RING_EXCHANGE_REPLY':
      return w.bytes32(m.ring);
    case 'TRANSFER_FETCH':
      w.u16(m.partition);
      w.key(m.after);
      w.u16(m.maxItems);
      return w.u32(m.maxBytes);
    case 'ADMIN':
      w.u8(ADMIN_OPS[m.op]);
      return w.str(m.node);
    case 'TRANSFER_CHUNK':
      w.u8(m.last ? 1 : 0);
      w.u32(m.keysTotal);
      w.u32(m.checksum);
      w.u16(m.items.length);
      for (const it of m.items) {
        w.key(it.key);
        w.bytes32(it.object);
      }
      return;
    case 'REPLICA_GET_REPLY':
      w.u8(m.found ? 1 : 0);
      return w.bytes32(m.object);
    case 'ACK':
      return w.u32(m.count);
    case 'FORWARD_REPLY':
      w.u8(m.found ? 1 : 0);
      w.bytes32(m.context);
      w.u16(m.siblings.length);
      for (const s of m.siblings) {
        w.u8(s.tombstone ? 1 : 0);
        w.bytes32(s.value);
      }
      return;
    case 'AAE_TREE':
      w.u16(m.partition);
      w.u8(m.leafBits);
      w.u8(m.fanoutBits);
      w.u8(m.level);
      return writeU32List(w, m.indices);
    case 'AAE_SEGMENTS':
      w.u16(m.partition);
      w.u8(m.leafBits);
      w.u8(m.fanoutBits);
      return writeU32List(w, m.segments);
    case 'AAE_FETCH':
      w.u16(m.partition);
      w.u16(m.keys.length);
      for (const k of m.keys) w.key(k);
      return;
    case 'AAE_TOMB_CHECK':
      w.u16(m.partition);
      return writeObjectItems(w, m.items);
    case 'AAE_REAP':
      w.u16(m.partition);
      w.u16(m.items.length);
      return writeAaeItems(w, m.items);
    case 'AAE_TREE_REPLY':
      w.u32(m.hi.length);
      for (let i = 0; i < m.hi.length; i++) {
        w.u32(m.hi[i]!);
        w.u32(m.lo[i]!);
      }
      return;
    case 'AAE_SEGMENTS_REPLY':
      w.u32(m.items.length);
      return writeAaeItems(w, m.items);
    case 'AAE_FETCH_REPLY':
      return writeObjectItems(w, m.items);
    case 'AAE_TOMB_CHECK_REPLY':
      w.u16(m.states.length);
      for (const st of m.states) {
        w.u8(AAE_STATE_BYTE.get(st.state)!);
        w.u32(st.hi);
        w.u32(st.lo);
      }
      return;
    case 'PEER_ERROR':
      return;
  }
};

const writeU32List = (w: Writer, v: readonly number[]): void => {
  w.u32(v.length);
  for (const x of v) w.u32(x);
};

const writeAaeItems = (w: Writer, items: readonly AaeItem[]): void => {
  for (const it of items) {
    w.key(it.key);
    w.u32(it.hi);
    w.u32(it.lo);
  }
};

const writeObjectItems = (w: Writer, items: readonly { readonly key: Uint8Array; readonly object: Uint8Array }[]): void => {
  w.u16(items.length);
  for (const it of items) {
    w.key(it.key);
    w.bytes32(it.object);
  }
};

/** The body bytes of a peer message (not PEER_ERROR). Throws KvError if it cannot be encoded. */
export const encodePeerBody = (m: PeerRequest | PeerReply): Buffer => {
  const size = bodySize(m);
  const w = new Writer(Buffer.allocUnsafe(size));
  writeBody(m, w);
  // A mismatch means bodySize and writeBody disagree: a codec bug, never input.
  if (w.at !== size) throw new KvError('KV_INTERNAL', `peer encoder wrote ${w.at} bytes, sized ${size}`);
  return w.b;
};

// Own properties only: `'toString' in PeerOpcode` is true.
const isRequest = (m: PeerRequest | PeerReply): m is PeerRequest => Object.hasOwn(PeerOpcode, m.type);

/** The opcode a reply travels on: its request's. ACK answers two requests, so it needs `inReplyTo`. */
const replyOpcode = (m: PeerReply, inReplyTo: PeerRequestType | undefined): number => {
  if (inReplyTo !== undefined) {
    if (!Object.hasOwn(PeerOpcode, inReplyTo)) throw bad(`inReplyTo ${String(inReplyTo)} is not a peer request`);
    if (REPLY_TYPE[inReplyTo] !== m.type) throw bad(`${m.type} does not answer ${inReplyTo}`);
    return PeerOpcode[inReplyTo];
  }
  const request = REQUEST_OF_REPLY.get(m.type);
  if (request !== undefined) return PeerOpcode[request];
  if (m.type === 'ACK') throw bad('ACK answers REPLICA_PUT, REPLICA_PUT_BATCH, AAE_REAP or ADMIN: say which (inReplyTo)');
  throw bad(`unknown peer message type ${String((m as { type: unknown }).type)}`);
};

/**
 * The framing-level message for a peer message on `streamId`: a NodeMessage,
 * or for PEER_ERROR an ERROR (retryable per RETRYABLE_CODES). Hand it to
 * `encode` or a FrameWriter. `inReplyTo` names the request a reply answers;
 * required for ACK (REPLICA_PUT and REPLICA_PUT_BATCH both take it), checked
 * when given for the others. Throws KvError (KV_BAD_ARGUMENT, KV_TOO_LARGE).
 */
export const peerToMessage = (streamId: number, m: PeerRequest | PeerReply, inReplyTo?: PeerRequestType): NodeMessage | ErrorMessage => {
  if (m === null || typeof m !== 'object') throw bad('peer message must be an object');
  if (m.type === 'PEER_ERROR') {
    if (typeof m.code !== 'string' || m.code.length === 0) throw bad('error code must be a non-empty string');
    return { op: 'ERROR', streamId, code: m.code, message: m.message, retryable: (RETRYABLE_CODES as ReadonlySet<string>).has(m.code) };
  }
  if (isRequest(m)) {
    if (inReplyTo !== undefined) throw bad(`${m.type} is a request, not a reply to ${inReplyTo}`);
    return { op: 'NODE', streamId, opcode: PeerOpcode[m.type], response: false, body: encodePeerBody(m) };
  }
  return { op: 'NODE', streamId, opcode: replyOpcode(m, inReplyTo), response: true, body: encodePeerBody(m) };
};

/**
 * The whole frame of a peer message, the same bytes as
 * `encode(peerToMessage(streamId, m, inReplyTo))` but with the body written
 * in place (one allocation, no copy). Throws KvError like peerToMessage.
 */
export const encodePeer = (streamId: number, m: PeerRequest | PeerReply, inReplyTo?: PeerRequestType): Buffer => {
  if (m === null || typeof m !== 'object' || m.type === 'PEER_ERROR') return encode(peerToMessage(streamId, m, inReplyTo));
  checkUint('streamId', streamId, MAX_U32);
  if (streamId === CONNECTION_STREAM) throw bad(`${m.type} must not use stream 0`);
  let opcode: number;
  if (isRequest(m)) {
    if (inReplyTo !== undefined) throw bad(`${m.type} is a request, not a reply to ${inReplyTo}`);
    opcode = PeerOpcode[m.type];
  } else {
    opcode = replyOpcode(m, inReplyTo);
  }
  const size = bodySize(m);
  if (size > MAX_U32 - HEADER_BYTES) throw new KvError('KV_TOO_LARGE', `frame of ${MIN_FRAME_BYTES + size} bytes does not fit the u32 length`);
  const w = new Writer(Buffer.allocUnsafe(MIN_FRAME_BYTES + size), MIN_FRAME_BYTES);
  writeHeader(w.b, 0, size, PROTOCOL_VERSION, opcode, isRequest(m) ? 0 : FLAG_RESPONSE, streamId);
  writeBody(m, w);
  if (w.at !== w.b.length) throw new KvError('KV_INTERNAL', `peer encoder wrote ${w.at} bytes, sized ${w.b.length}`);
  return w.b;
};

// ---------------------------------------------------------------- decoding


const readEntries = (r: Reader): MembershipEntryWire[] => {
  const n = r.count('entries', MIN_ENTRY_BYTES);
  const out = new Array<MembershipEntryWire>(n);
  for (let i = 0; i < n; i++) {
    const id = r.str('entry id');
    if (id.length === 0) throw new Malformed('entry id is empty');
    const address = r.str('entry address');
    const sb = r.u8('entry status');
    const status = PEER_STATUSES[sb];
    if (status === undefined) throw new Malformed(`entry status ${sb} unknown`);
    const incarnation = r.counter('incarnation');
    const heartbeat = r.counter('heartbeat');
    const claimVersion = r.counter('claimVersion');
    const weight = r.f64('weight');
    if (!Number.isFinite(weight) || weight <= 0) throw new Malformed(`weight ${weight} is not a positive finite number`);
    out[i] = { id, address, status, incarnation, heartbeat, claimVersion, weight };
  }
  return out;
};

const readRequest = (type: PeerRequestType, r: Reader): PeerRequest => {
  switch (type) {
    case 'REPLICA_GET': {
      const partition = r.u16('partition');
      return { type, partition, key: r.key('key') };
    }
    case 'REPLICA_PUT': {
      const partition = r.u16('partition');
      const key = r.key('key');
      const hintFor = r.str('hintFor');
      return { type, partition, key, object: r.bytes32('object'), hintFor };
    }
    case 'REPLICA_PUT_BATCH': {
      const n = r.count('items', MIN_ITEM_BYTES);
      const items = new Array<{ partition: number; key: Uint8Array; object: Uint8Array }>(n);
      for (let i = 0; i < n; i++) {
        const partition = r.u16('partition');
        const key = r.key('key');
        items[i] = { partition, key, object: r.bytes32('object') };
      }
      return { type, items };
    }
    case 'FORWARD': {
      const ob = r.u8('forward op');
      const op = FORWARD_OP_OF[ob];
      if (op === undefined) throw new Malformed(`forward op ${ob} unknown`);
      const quorum = r.u8('quorum');
      const timeoutMs = r.u32('timeoutMs');
      const key = r.key('key');
      const context = r.bytes32('context');
      const value = r.bytes32('value');
      if (op !== 'put' && value.length !== 0) throw new Malformed(`a forwarded ${op} carries a value`);
      if (op === 'get' && context.length !== 0) throw new Malformed('a forwarded get carries a context');
      return { type, op, key, value, context, quorum, timeoutMs };
    }
    case 'GOSSIP':
      return { type, entries: readEntries(r) };
    case 'AAE_TREE': {
      const partition = r.u16('partition');
      const leafBits = r.u8('leafBits');
      const fanoutBits = r.u8('fanoutBits');
      const level = r.u8('level');
      return { type, partition, leafBits, fanoutBits, level, indices: readU32List(r, 'indices') };
    }
    case 'AAE_SEGMENTS': {
      const partition = r.u16('partition');
      const leafBits = r.u8('leafBits');
      const fanoutBits = r.u8('fanoutBits');
      return { type, partition, leafBits, fanoutBits, segments: readU32List(r, 'segments') };
    }
    case 'AAE_FETCH': {
      const partition = r.u16('partition');
      const n = r.count('keys', 3);
      const keys = new Array<Uint8Array>(n);
      for (let i = 0; i < n; i++) keys[i] = r.key('key');
      return { type, partition, keys };
    }
    case 'AAE_TOMB_CHECK': {
      const partition = r.u16('partition');
      return { type, partition, items: readObjectItems(r) };
    }
    case 'AAE_REAP': {
      const partition = r.u16('partition');
      return { type, partition, items: readAaeItems(r, r.count('items', MIN_AAE_ITEM_BYTES)) };
    }
    case 'RING_EXCHANGE':
      return { type, ring: r.bytes32('ring') };
    case 'TRANSFER_FETCH': {
      const partition = r.u16('partition');
      const after = r.bytes16('after');
      const maxItems = r.u16('maxItems');
      return { type, partition, after, maxItems, maxBytes: r.u32('maxBytes') };
    }
    case 'ADMIN': {
      const ob = r.u8('admin op');
      const op = ADMIN_OP_OF[ob];
      if (op === undefined) throw new Malformed(`admin op ${ob} unknown`);
      return { type, op, node: r.str('node') };
    }
  }
};

/** A u32 count, refused before any allocation when `minItemBytes` each cannot fit. */
const count32 = (r: Reader, what: string, minItemBytes: number): number => {
  const n = r.u32(`${what} count`);
  if (n > MAX_AAE_LIST) throw new Malformed(`${what} count ${n} > ${MAX_AAE_LIST}`);
  r.need(n * minItemBytes, what);
  return n;
};

const readU32List = (r: Reader, what: string): number[] => {
  const n = count32(r, what, 4);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = r.u32(what);
  return out;
};

const readAaeItems = (r: Reader, n: number): AaeItem[] => {
  const out = new Array<AaeItem>(n);
  for (let i = 0; i < n; i++) {
    const key = r.key('key');
    const hi = r.u32('hi');
    out[i] = { key, hi, lo: r.u32('lo') };
  }
  return out;
};

const readObjectItems = (r: Reader): { key: Uint8Array; object: Uint8Array }[] => {
  const n = r.count('items', MIN_AAE_OBJECT_BYTES);
  const out = new Array<{ key: Uint8Array; object: Uint8Array }>(n);
  for (let i = 0; i < n; i++) {
    const key = r.key('key');
    out[i] = { key, object: r.bytes32('object') };
  }
  return out;
};

const readReply = (request: PeerRequestType, r: Reader): PeerReply => {
  switch (REPLY_TYPE[request]) {
    case 'REPLICA_GET_REPLY': {
      const found = r.flags('get reply flags', 1) === 1;
      const object = r.bytes32('object');
      if (!found && object.length !== 0) throw new Malformed('a not-found reply carries an object');
      return { type: 'REPLICA_GET_REPLY', found, object };
    }
    case 'ACK':
      return { type: 'ACK', count: r.u32('count') };
    case 'FORWARD_REPLY': {
      const found = r.flags('forward reply flags', 1) === 1;
      const context = r.bytes32('context');
      const n = r.count('siblings', MIN_SIBLING_BYTES);
      const siblings = new Array<{ value: Uint8Array; tombstone: boolean }>(n);
      for (let i = 0; i < n; i++) {
        const tombstone = r.flags('sibling flags', 1) === 1;
        siblings[i] = { value: r.bytes32('sibling value'), tombstone };
      }
      return { type: 'FORWARD_REPLY', found, siblings, context };
    }
    case 'GOSSIP_REPLY':
      return { type: 'GOSSIP_REPLY', entries: readEntries(r) };
    case 'AAE_TREE_REPLY': {
      const n = count32(r, 'digests', 8);
      const hi = new Array<number>(n);
      const lo = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        hi[i] = r.u32('hi');
        lo[i] = r.u32('lo');
      }
      return { type: 'AAE_TREE_REPLY', hi, lo };
    }
    case 'AAE_SEGMENTS_REPLY':
      return { type: 'AAE_SEGMENTS_REPLY', items: readAaeItems(r, count32(r, 'items', MIN_AAE_ITEM_BYTES)) };
    case 'AAE_FETCH_REPLY':
      return { type: 'AAE_FETCH_REPLY', items: readObjectItems(r) };
    case 'AAE_TOMB_CHECK_REPLY': {
      const n = r.count('states', 9);
      const states = new Array<{ state: AaeCopyState; hi: number; lo: number }>(n);
      for (let i = 0; i < n; i++) {
        const b = r.u8('copy state');
        const state = AAE_COPY_STATES[b];
        if (state === undefined) throw new Malformed(`copy state ${b} unknown`);
        const hi = r.u32('hi');
        states[i] = { state, hi, lo: r.u32('lo') };
      }
      return { type: 'AAE_TOMB_CHECK_REPLY', states };
    }
    case 'RING_EXCHANGE_REPLY':
      return { type: 'RING_EXCHANGE_REPLY', ring: r.bytes32('ring') };
    case 'TRANSFER_CHUNK': {
      const last = r.flags('chunk flags', 1) === 1;
      const keysTotal = r.u32('keysTotal');
      const checksum = r.u32('checksum');
      const n = r.count('items', 2 + 1 + 4);
      const items = new Array<{ key: Uint8Array; object: Uint8Array }>(n);
      for (let i = 0; i < n; i++) {
        const key = r.key('key');
        items[i] = { key, object: r.bytes32('object') };
      }
      return { type: 'TRANSFER_CHUNK', last, keysTotal, checksum, items };
    }
  }
};

const run = <A>(body: Uint8Array, read: (r: Reader) => A): E.Either<KvError, A> => decodeWhole('peer', body, read);

const hex = (opcode: number): string => `0x${opcode.toString(16)}`;

/**
 * The peer request a NODE message carries. Never throws. Left codes:
 * KV_BAD_FRAME (a response, or a body that breaks the layout: answer ERROR on
 * stream 0 and close), KV_UNSUPPORTED (a node opcode this codec does not
 * know: answer ERROR on the message's stream; the connection stays open).
 */
export const decodePeerRequest = (m: NodeMessage): E.Either<KvError, PeerRequest> => {
  if (m === null || typeof m !== 'object' || m.op !== 'NODE') return E.left(new KvError('KV_BAD_FRAME', 'not a node message'));
  if (m.response) return E.left(new KvError('KV_BAD_FRAME', `node opcode ${hex(m.opcode)} is a response, not a request`));
  const type = REQUEST_OF_OPCODE.get(m.opcode);
  if (type === undefined) {
    return E.left(
      isNodeOpcode(m.opcode)
        ? new KvError('KV_UNSUPPORTED', `node opcode ${hex(m.opcode)} not supported`)
        : new KvError('KV_BAD_FRAME', `opcode ${hex(m.opcode)} is not a node opcode`),
    );
  }
  return run(m.body, (r) => readRequest(type, r));
};

/**
 * The peer reply a NODE response or an ERROR carries. `request`, when given,
 * is the type of the request sent on this stream: a reply on another opcode
 * is KV_BAD_FRAME. Never throws; every Left is KV_BAD_FRAME (a reply nobody
 * could have asked for, or a body that breaks the layout).
 */
export const decodePeerReply = (m: NodeMessage | ErrorMessage, request?: PeerRequestType): E.Either<KvError, PeerReply> => {
  if (m === null || typeof m !== 'object') return E.left(new KvError('KV_BAD_FRAME', 'not a message'));
  if (m.op === 'ERROR') {
    if (typeof m.code !== 'string' || m.code.length === 0) return E.left(new KvError('KV_BAD_FRAME', 'error without a code'));
    return E.right({ type: 'PEER_ERROR', code: m.code, message: m.message });
  }
  if (m.op !== 'NODE') return E.left(new KvError('KV_BAD_FRAME', 'not a node message'));
  if (!m.response) return E.left(new KvError('KV_BAD_FRAME', `node opcode ${hex(m.opcode)} is a request, not a reply`));
  const type = REQUEST_OF_OPCODE.get(m.opcode);
  if (type === undefined) return E.left(new KvError('KV_BAD_FRAME', `reply with unknown node opcode ${hex(m.opcode)}`));
  if (request !== undefined && request !== type) {
    return E.left(new KvError('KV_BAD_FRAME', `reply on opcode ${hex(m.opcode)} (${type}) to a ${request}`));
  }
  return run(m.body, (r) => readReply(type, r));
};

// ---------------------------------------------------------------- RING_REPLY body

const ringSize = (ring: RingBody): number => {
  if (ring === null || typeof ring !== 'object') throw bad('ring must be an object');
  if (typeof ring.ringVersion !== 'bigint' || ring.ringVersion < 0n || ring.ringVersion > 0xffffffffffffffffn) {
    throw bad('ringVersion must be a bigint in 0..2^64-1');
  }
  checkUint('qBits', ring.qBits, MAX_Q_BITS);
  if (ring.qBits < MIN_Q_BITS) throw bad(`qBits must be in ${MIN_Q_BITS}..${MAX_Q_BITS}`);
  checkUint('n', ring.n, 0xff);
  if (ring.n < 1) throw bad('n must be at least 1');
  checkList('members', ring.members);
  if (ring.members.length === 0) throw bad('a ring has at least one member');
  const ids = new Set<string>();
  let size = 8 + 1 + 1 + 2;
  for (const mb of ring.members) {
    const id = strBytes('member id', mb.id);
    if (id === 0) throw bad('member id must not be empty');
    if (ids.has(mb.id)) throw bad(`member ${mb.id} listed twice`);
    ids.add(mb.id);
    size += 2 + id + 2 + strBytes('member address', mb.address);
  }
  if (!Array.isArray(ring.owners) || ring.owners.length !== 2 ** ring.qBits) throw bad(`owners must list 2^qBits = ${2 ** ring.qBits} partitions`);
  for (const o of ring.owners) checkUint('owner index', o, ring.members.length - 1);
  return size + 2 * ring.owners.length;
};

/**
 * RING_REPLY's body: ringVersion u64, qBits u8, n u8, members list<{ id
 * string, address string }>, then 2^qBits owners as u16 indexes into members.
 * Throws KvError (KV_BAD_ARGUMENT, KV_TOO_LARGE) for a ring it cannot encode.
 */
export const encodeRingBody = (ring: RingBody): Buffer => {
  const size = ringSize(ring);
  const w = new Writer(Buffer.allocUnsafe(size));
  w.u64big(ring.ringVersion);
  w.u8(ring.qBits);
  w.u8(ring.n);
  w.u16(ring.members.length);
  for (const mb of ring.members) {
    w.str(mb.id);
    w.str(mb.address);
  }
  for (const o of ring.owners) w.u16(o);
  if (w.at !== size) throw new KvError('KV_INTERNAL', `ring encoder wrote ${w.at} bytes, sized ${size}`);
  return w.b;
};

/** The inverse of encodeRingBody. Never throws; a body that breaks the layout is KV_BAD_FRAME. */
export const decodeRingBody = (body: Uint8Array): E.Either<KvError, RingBody> =>
  run(body, (r) => {
    const ringVersion = r.u64big('ringVersion');
    const qBits = r.u8('qBits');
    if (qBits < MIN_Q_BITS || qBits > MAX_Q_BITS) throw new Malformed(`qBits ${qBits} not in ${MIN_Q_BITS}..${MAX_Q_BITS}`);
    const n = r.u8('n');
    if (n < 1) throw new Malformed('n is 0');
    const count = r.count('members', MIN_MEMBER_BYTES);
    if (count === 0) throw new Malformed('a ring has at least one member');
    const members = new Array<RingMember>(count);
    const ids = new Set<string>();
    for (let i = 0; i < count; i++) {
      const id = r.str('member id');
      if (id.length === 0) throw new Malformed('member id is empty');
      if (ids.has(id)) throw new Malformed(`member ${id} listed twice`);
      ids.add(id);
      members[i] = { id, address: r.str('member address') };
    }
    const q = 2 ** qBits;
    r.need(2 * q, 'owners');
    const owners = new Array<number>(q);
    for (let p = 0; p < q; p++) {
      const o = r.u16('owner');
      if (o >= count) throw new Malformed(`owner of partition ${p} is member ${o} of ${count}`);
      owners[p] = o;
    }
    return { ringVersion, qBits, n, members, owners };
  });

/**
 * The RING_REPLY body of a ring whose `owners[p]` are node ids (core/ring's
 * Ring fits): members are the distinct owners sorted by id, each with
 * `addressOf(id)`. Throws KvError like encodeRingBody when encoded.
 */
export const ringBodyOf = (
  ring: { readonly qBits: number; readonly owners: readonly string[] },
  n: number,
  ringVersion: bigint,
  addressOf: (id: string) => string,
): RingBody => {
  const ids = [...new Set(ring.owners)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(ids.map((id, i) => [id, i]));
  return {
    ringVersion,
    qBits: ring.qBits,
    n,
    members: ids.map((id) => ({ id, address: addressOf(id) })),
    owners: ring.owners.map((id) => index.get(id)!),
  };
};

/** owners[p] as node ids (the inverse view of ringBodyOf). */
export const ringOwnerIds = (body: RingBody): readonly string[] => body.owners.map((i) => body.members[i]!.id);

// ---------------------------------------------------------------- JSON (the vectors' form)

export type PeerJson = { readonly [field: string]: unknown };

const PEER_BYTE_FIELDS: ReadonlySet<string> = new Set(['key', 'object', 'value', 'context', 'ring', 'after']);
/** Lists whose items are objects with byte fields (converted item by item). */
const PEER_ITEM_LISTS: ReadonlySet<string> = new Set(['items', 'siblings']);

/** A peer message as JSON: byte fields (also inside items and siblings) as lowercase hex, everything else as is. */
export const peerToJson = (m: PeerRequest | PeerReply): PeerJson => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (v instanceof Uint8Array) out[k] = toHex(v);
    else if (k === 'keys') out[k] = (v as readonly Uint8Array[]).map(toHex);
    else if (PEER_ITEM_LISTS.has(k)) out[k] = (v as readonly object[]).map((it) => peerToJson(it as PeerRequest));
    else if (k === 'entries') out[k] = (v as readonly MembershipEntryWire[]).map((e) => ({ ...e }));
    else out[k] = v;
  }
  return out;
};

/** The inverse of peerToJson (shapes checked only as far as hex parsing needs). */
export const peerFromJson = (j: PeerJson): PeerRequest | PeerReply => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(j)) {
    if (PEER_BYTE_FIELDS.has(k)) out[k] = fromHex(v as string);
    else if (k === 'keys') out[k] = (v as readonly string[]).map((x) => fromHex(x));
    else if (PEER_ITEM_LISTS.has(k)) out[k] = (v as readonly PeerJson[]).map((it) => peerFromJson(it));
    else out[k] = v;
  }
  return out as unknown as PeerRequest | PeerReply;
};

/** A RING_REPLY body as JSON: ringVersion as a decimal string. */
export const ringToJson = (ring: RingBody): PeerJson => ({ ...ring, ringVersion: ring.ringVersion.toString(), members: ring.members.map((m) => ({ ...m })), owners: [...ring.owners] });

export const ringFromJson = (j: PeerJson): RingBody => ({ ...(j as unknown as RingBody), ringVersion: BigInt(j['ringVersion'] as string) });

/**
 * fast-check generators for every node-to-node message and the RING_REPLY
 * body, shared by the peer codec's tests.
 */
import fc from 'fast-check';
import { MAX_COUNTER, PEER_STATUSES, type PeerRequestType, type RingBody } from '../../protocol/index.js';
import type { MembershipEntryWire, PeerReply, PeerRequest } from '../../protocol/peer_messages.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
const counter = fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: MAX_COUNTER }));
const blob = fc.uint8Array({ maxLength: 48 });
const key = fc.uint8Array({ minLength: 1, maxLength: 32 });
const str = fc.string({ unit: 'binary', maxLength: 16 });
const id = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 });

export const entry: fc.Arbitrary<MembershipEntryWire> = fc.record({
  id,
  address: str,
  status: fc.constantFrom(...PEER_STATUSES),
  incarnation: counter,
  heartbeat: counter,
  claimVersion: counter,
  weight: fc.oneof(fc.constant(1), fc.double({ min: Number.MIN_VALUE, max: 1e6, noNaN: true })),
});

export const request: fc.Arbitrary<PeerRequest> = fc.oneof(
  fc.record({ type: fc.constant('REPLICA_GET' as const), partition: u16, key }),
  fc.record({ type: fc.constant('REPLICA_PUT' as const), partition: u16, key, object: blob, hintFor: str }),
  fc.record({
    type: fc.constant('REPLICA_PUT_BATCH' as const),
    items: fc.array(fc.record({ partition: u16, key, object: blob }), { maxLength: 6 }),
  }),
  fc.record({ type: fc.constant('FORWARD' as const), op: fc.constant('get' as const), key, value: fc.constant(new Uint8Array(0)), context: fc.constant(new Uint8Array(0)), quorum: u8, timeoutMs: u32 }),
  fc.record({ type: fc.constant('FORWARD' as const), op: fc.constant('put' as const), key, value: blob, context: blob, quorum: u8, timeoutMs: u32 }),
  fc.record({ type: fc.constant('FORWARD' as const), op: fc.constant('delete' as const), key, value: fc.constant(new Uint8Array(0)), context: blob, quorum: u8, timeoutMs: u32 }),
  fc.record({ type: fc.constant('GOSSIP' as const), entries: fc.array(entry, { maxLength: 5 }) }),
  fc.record({ type: fc.constant('RING_EXCHANGE' as const), ring: blob }),
  fc.record({ type: fc.constant('TRANSFER_FETCH' as const), partition: u16, after: fc.uint8Array({ maxLength: 32 }), maxItems: u16, maxBytes: u32 }),
  fc.record({ type: fc.constant('ADMIN' as const), op: fc.constantFrom('leave' as const, 'remove' as const), node: str }),
);

/** A reply together with the request type it answers. */
export const reply: fc.Arbitrary<{ readonly reply: PeerReply; readonly inReplyTo: PeerRequestType }> = fc.oneof(
  fc.record({
    inReplyTo: fc.constant('REPLICA_GET' as const),
    reply: fc.oneof(
      fc.record({ type: fc.constant('REPLICA_GET_REPLY' as const), found: fc.constant(true), object: blob }),
      fc.record({ type: fc.constant('REPLICA_GET_REPLY' as const), found: fc.constant(false), object: fc.constant(new Uint8Array(0)) }),
    ),
  }),
  fc.record({
    inReplyTo: fc.constantFrom('REPLICA_PUT' as const, 'REPLICA_PUT_BATCH' as const),
    reply: fc.record({ type: fc.constant('ACK' as const), count: u32 }),
  }),
  fc.record({
    inReplyTo: fc.constant('FORWARD' as const),
    reply: fc.record({
      type: fc.constant('FORWARD_REPLY' as const),
      found: fc.boolean(),
      siblings: fc.array(fc.record({ value: blob, tombstone: fc.boolean() }), { maxLength: 4 }),
      context: blob,
    }),
  }),
  fc.record({
    inReplyTo: fc.constant('GOSSIP' as const),
    reply: fc.record({ type: fc.constant('GOSSIP_REPLY' as const), entries: fc.array(entry, { maxLength: 5 }) }),
  }),
  fc.record({
    inReplyTo: fc.constant('RING_EXCHANGE' as const),
    reply: fc.record({ type: fc.constant('RING_EXCHANGE_REPLY' as const), ring: blob }),
  }),
  fc.record({
    inReplyTo: fc.constant('TRANSFER_FETCH' as const),
    reply: fc.record({
      type: fc.constant('TRANSFER_CHUNK' as const),
      last: fc.boolean(),
      keysTotal: u32,
      checksum: u32,
      items: fc.array(fc.record({ key, object: blob }), { maxLength: 5 }),
    }),
  }),
  fc.record({
    inReplyTo: fc.constant('ADMIN' as const),
    reply: fc.record({ type: fc.constant('ACK' as const), count: u32 }),
  }),
  fc.record({
    inReplyTo: fc.constantFrom('REPLICA_GET' as const, 'REPLICA_PUT' as const, 'REPLICA_PUT_BATCH' as const, 'FORWARD' as const, 'GOSSIP' as const),
    reply: fc.record({
      type: fc.constant('PEER_ERROR' as const),
      code: fc.constantFrom('KV_TIMEOUT', 'KV_UNAVAILABLE', 'KV_IO_ERROR', 'KV_NOT_A_CODE_YET'),
      message: str,
    }),
  }),
);

export const ring: fc.Arbitrary<RingBody> = fc
  .record({
    ringVersion: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    qBits: fc.integer({ min: 1, max: 7 }),
    n: fc.integer({ min: 1, max: 0xff }),
    members: fc.uniqueArray(fc.record({ id, address: str }), { minLength: 1, maxLength: 6, selector: (m) => m.id }),
  })
  .chain((r) =>
    fc.array(fc.nat({ max: r.members.length - 1 }), { minLength: 2 ** r.qBits, maxLength: 2 ** r.qBits }).map((owners) => ({ ...r, owners })),
  );

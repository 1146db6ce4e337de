/**
 * Node-to-node messages (opcodes 0x40..0x7F, same framing as client
 * traffic). These are the typed model; protocol/peer.ts is their wire codec
 * and PROTOCOL.md §"Node-to-node messages" their normative layout.
 *
 * Objects travel as the stored-object encoding of src/core/context_codec.ts
 * (`encodeObject`), opaque bytes here. Keys are bytes; partitions are u16.
 */

/** Read one key's object from a replica. */
export interface ReplicaGet {
  readonly type: 'REPLICA_GET';
  readonly partition: number;
  readonly key: Uint8Array;
}

/**
 * Merge an object into a replica (a coordinated write's copy, a read repair,
 * or a delivered hint). `hintFor` non-empty: the receiver is a fallback and
 * must keep the object durably and hand it to `hintFor` later.
 */
export interface ReplicaPut {
  readonly type: 'REPLICA_PUT';
  readonly partition: number;
  readonly key: Uint8Array;
  readonly object: Uint8Array;
  readonly hintFor: string;
}

/** Many REPLICA_PUTs without hints in one message (hint delivery, repair batches). */
export interface ReplicaPutBatch {
  readonly type: 'REPLICA_PUT_BATCH';
  readonly items: readonly { readonly partition: number; readonly key: Uint8Array; readonly object: Uint8Array }[];
}

/** A client operation forwarded to a node that can coordinate it (a primary of the key). */
export interface Forward {
  readonly type: 'FORWARD';
  /** 'get' | 'put' | 'delete'. */
  readonly op: 'get' | 'put' | 'delete';
  readonly key: Uint8Array;
  /** Value for put; empty otherwise. */
  readonly value: Uint8Array;
  /** Client context bytes (opaque). */
  readonly context: Uint8Array;
  /** Quorum override (r for get, w for put/delete); 0 = default. */
  readonly quorum: number;
  readonly timeoutMs: number;
}

/** Gossip: the sender's membership entries (all, or those newer than the receiver's digest). */
export interface Gossip {
  readonly type: 'GOSSIP';
  /** Encoded membership entries (see MembershipEntryWire). */
  readonly entries: readonly MembershipEntryWire[];
}

export interface MembershipEntryWire {
  readonly id: string;
  readonly address: string;
  /** 'joining' | 'up' | 'leaving' | 'down' | 'removed' */
  readonly status: string;
  readonly incarnation: number;
  readonly heartbeat: number;
  readonly claimVersion: number;
  readonly weight: number;
}

// ---- anti-entropy (issue 7, PROTOCOL.md §16): opcodes 0x50..0x54

/** One key's item hash h(key, stored object) in a Merkle segment (src/core/merkle.ts). */
export interface AaeItem {
  readonly key: Uint8Array;
  readonly hi: number;
  readonly lo: number;
}

/** Asks for the digests of some nodes of one level of a partition's Merkle tree. */
export interface AaeTree {
  readonly type: 'AAE_TREE';
  readonly partition: number;
  /** The asker's tree shape; a receiver with another shape refuses (KV_BAD_ARGUMENT). */
  readonly leafBits: number;
  readonly fanoutBits: number;
  readonly level: number;
  /** Node indices on that level, strictly ascending. */
  readonly indices: readonly number[];
}

/** Asks for the (key, item hash) pairs of a partition's keys in some segments. */
export interface AaeSegments {
  readonly type: 'AAE_SEGMENTS';
  readonly partition: number;
  readonly leafBits: number;
  readonly fanoutBits: number;
  /** Segment (leaf) indices, strictly ascending. */
  readonly segments: readonly number[];
}

/** Asks for the stored objects of some keys of a partition. */
export interface AaeFetch {
  readonly type: 'AAE_FETCH';
  readonly partition: number;
  readonly keys: readonly Uint8Array[];
}

/** Asks every member how its copy of each key compares with the asker's tombstone (src/core/aae.ts). */
export interface AaeTombCheck {
  readonly type: 'AAE_TOMB_CHECK';
  readonly partition: number;
  readonly items: readonly { readonly key: Uint8Array; readonly object: Uint8Array }[];
}

/** Remove each key whose stored object still has the given item hash (a tombstone reap). */
export interface AaeReap {
  readonly type: 'AAE_REAP';
  readonly partition: number;
  readonly items: readonly AaeItem[];
}

/** Issue 6 (§15): exchange cluster rings (core/ring_plan values, encoded by protocol/ring_plan.ts); the reply carries the receiver's merged ring. */
export interface RingExchange {
  readonly type: 'RING_EXCHANGE';
  readonly ring: Uint8Array;
}

/**
 * Issue 6 (§15): the next chunk of a partition being transferred to the
 * sender: up to `maxItems` keys (and about `maxBytes`) strictly after `after`
 * in byte order (`after` empty: from the first key).
 */
export interface TransferFetch {
  readonly type: 'TRANSFER_FETCH';
  readonly partition: number;
  readonly after: Uint8Array;
  readonly maxItems: number;
  readonly maxBytes: number;
}

/** Issue 6 (§15): an operator's membership change sent to a node: 'leave' (that node leaves) or 'remove' (`node` is removed). */
export interface Admin {
  readonly type: 'ADMIN';
  readonly op: 'leave' | 'remove';
  /** The node to remove; empty for leave. */
  readonly node: string;
}

export type PeerRequest =
  | ReplicaGet
  | ReplicaPut
  | ReplicaPutBatch
  | Forward
  | Gossip
  | AaeTree
  | AaeSegments
  | AaeFetch
  | AaeTombCheck
  | AaeReap
  | RingExchange
  | TransferFetch
  | Admin;

/** Answer to REPLICA_GET: the object bytes, or found = false. */
export interface ReplicaGetReply {
  readonly type: 'REPLICA_GET_REPLY';
  readonly found: boolean;
  readonly object: Uint8Array;
}

/** Acknowledges REPLICA_PUT / REPLICA_PUT_BATCH: the data is stored per the node's durability. */
export interface Ack {
  readonly type: 'ACK';
  /** For a batch: how many items were applied (all of them on success). */
  readonly count: number;
}

/** Answer to FORWARD: the client-visible result. */
export interface ForwardReply {
  readonly type: 'FORWARD_REPLY';
  readonly found: boolean;
  readonly siblings: readonly { readonly value: Uint8Array; readonly tombstone: boolean }[];
  readonly context: Uint8Array;
}

/** Answer to GOSSIP: the receiver's entries the sender lacks (or all). */
export interface GossipReply {
  readonly type: 'GOSSIP_REPLY';
  readonly entries: readonly MembershipEntryWire[];
}

/** A request failed at the peer: a stable KV_* code and a message. */
export interface PeerError {
  readonly type: 'PEER_ERROR';
  readonly code: string;
  readonly message: string;
}

/** AAE_TREE's answer: the digests in query order. */
export interface AaeTreeReply {
  readonly type: 'AAE_TREE_REPLY';
  readonly hi: readonly number[];
  readonly lo: readonly number[];
}

/** AAE_SEGMENTS's answer: every key of the asked segments with its item hash, in no given order. */
export interface AaeSegmentsReply {
  readonly type: 'AAE_SEGMENTS_REPLY';
  readonly items: readonly AaeItem[];
}

/** AAE_FETCH's answer: the keys held, with their objects (absent keys are left out). */
export interface AaeFetchReply {
  readonly type: 'AAE_FETCH_REPLY';
  readonly items: readonly { readonly key: Uint8Array; readonly object: Uint8Array }[];
}

/** Copy states of AAE_TOMB_CHECK_REPLY, in wire order (core/aae.ts CopyState). */
export const AAE_COPY_STATES = ['same', 'absent', 'older', 'other', 'hinted'] as const;
export type AaeCopyState = (typeof AAE_COPY_STATES)[number];

/** AAE_TOMB_CHECK's answer: one entry per asked item, in order, with the item hash of the copy (0, 0 when absent). */
export interface AaeTombCheckReply {
  readonly type: 'AAE_TOMB_CHECK_REPLY';
  readonly states: readonly { readonly state: AaeCopyState; readonly hi: number; readonly lo: number }[];
}

export interface RingExchangeReply {
  readonly type: 'RING_EXCHANGE_REPLY';
  readonly ring: Uint8Array;
}

/**
 * A transfer chunk: items in ascending key order, `last` when no key follows
 * the last item, `keysTotal` the partition's key count at the source (for
 * progress), `checksum` the FNV-1a 32 of every item's key and object bytes in
 * order (protocol/ring_plan.ts `chunkChecksum`).
 */
export interface TransferChunk {
  readonly type: 'TRANSFER_CHUNK';
  readonly last: boolean;
  readonly keysTotal: number;
  readonly checksum: number;
  readonly items: readonly { readonly key: Uint8Array; readonly object: Uint8Array }[];
}

export type PeerReply =
  | ReplicaGetReply
  | Ack
  | ForwardReply
  | GossipReply
  | AaeTreeReply
  | AaeSegmentsReply
  | AaeFetchReply
  | AaeTombCheckReply
  | RingExchangeReply
  | TransferChunk
  | PeerError;

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

export type PeerRequest = ReplicaGet | ReplicaPut | ReplicaPutBatch | Forward | Gossip;

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

export type PeerReply = ReplicaGetReply | Ack | ForwardReply | GossipReply | PeerError;

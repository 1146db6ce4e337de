/**
 * What a node does with its peers' requests: serve its replica
 * (REPLICA_GET, REPLICA_PUT, REPLICA_PUT_BATCH), coordinate a FORWARDed
 * client operation, and answer GOSSIP. A rejection becomes a PEER_ERROR
 * reply with the KvError's code (see effects.ts).
 */
import { decodeObject } from '../core/context_codec.js';
import type { NodeId } from '../core/types.js';
import { KvError } from '../errors.js';
import type { Admin, PeerReply, PeerRequest, RingExchange, RingExchangeReply, TransferChunk, TransferFetch } from '../../protocol/peer_messages.js';
import type { Obj, Replica } from '../node/replica.js';
import type { Coordinator } from './coordinator.js';
import type { Gossiper } from './gossip.js';

const EMPTY = new Uint8Array(0);

/** The acknowledgement of one write (never mutated: shared by every reply). */
const ACK: PeerReply = Object.freeze({ type: 'ACK', count: 1 });

const replicaGetReply = (bytes: Uint8Array | undefined): PeerReply =>
  bytes === undefined ? { type: 'REPLICA_GET_REPLY', found: false, object: EMPTY } : { type: 'REPLICA_GET_REPLY', found: true, object: bytes };

export interface ReplicaHandlerDeps {
  readonly self: NodeId;
  readonly replica: Replica;
  readonly addHint: (target: NodeId, partition: number, key: Uint8Array) => Promise<void>;
  /** The nodes that keep the partition's data in this node's ring (current and, while pending, next preference lists). */
  readonly primariesOf: (partition: number) => readonly NodeId[];
  readonly coordinator: Coordinator;
  readonly gossiper: Gossiper;
  /** Serves the anti-entropy requests (AAE_*, src/cluster/anti_entropy.ts). */
  readonly antiEntropy: (request: PeerRequest) => Promise<PeerReply>;
  /** Issue 6: RING_EXCHANGE, TRANSFER_FETCH and ADMIN. */
  readonly ringExchange: (from: NodeId, request: RingExchange) => RingExchangeReply;
  readonly transferFetch: (request: TransferFetch) => Promise<TransferChunk>;
  readonly admin: (request: Admin) => void;
}

export class ReplicaHandler {
  constructor(private readonly d: ReplicaHandlerDeps) {}

  /**
   * Answers a peer's request; a replica read of a partition open on a
   * synchronous store is answered at once (no promise: a client GET makes
   * two of these). May throw (the node turns that into a rejection).
   */
  handle(from: NodeId, request: PeerRequest): PeerReply | Promise<PeerReply> {
    if (request.type === 'REPLICA_PUT') return this.replicaPut(request);
    if (request.type !== 'REPLICA_GET') return this.handleAsync(from, request);
    this.checkPartition(request.partition, request.key);
    // The stored bytes are an encoded object already (the codec is
    // canonical): sent as they are, not decoded and encoded again. The
    // coordinator decodes (and checks) what it receives.
    const bytes = this.d.replica.readStored(request.key);
    return bytes instanceof Promise ? bytes.then(replicaGetReply) : replicaGetReply(bytes);
  }

  /**
   * A replica write from a coordinator: on a primary, into a synchronous
   * store with no key locked, it is merged and acknowledged at once
   * (Replica.mergeNow); a hinted write, a copy this node keeps for others
   * (adopt) or a store that must wait go the asynchronous way.
   */
  private replicaPut(request: Extract<PeerRequest, { type: 'REPLICA_PUT' }>): PeerReply | Promise<PeerReply> {
    const { partition, key, object, hintFor } = request;
    if ((hintFor !== '' && hintFor !== this.d.self) || !this.d.primariesOf(partition).includes(this.d.self)) {
      return this.store(partition, key, object, hintFor).then(() => ACK);
    }
    const merged = this.d.replica.mergeNow(key, this.decode(partition, key, object), object);
    return merged instanceof Promise ? merged.then(() => ACK) : ACK;
  }

  private async handleAsync(from: NodeId, request: Exclude<PeerRequest, { type: 'REPLICA_GET' | 'REPLICA_PUT' }>): Promise<PeerReply> {
    switch (request.type) {
      case 'REPLICA_PUT_BATCH': {
        // Checked whole before anything is applied, so a bad item does not leave the batch half done.
        const decoded = request.items.map((it) => ({ ...it, obj: this.decode(it.partition, it.key, it.object) }));
        await Promise.all(decoded.map((it) => this.d.replica.merge(it.key, it.obj, it.object).then(() => this.adopt(it.partition, it.key))));
        return { type: 'ACK', count: decoded.length };
      }
      case 'FORWARD':
        return this.d.coordinator.serveForward(request);
      case 'GOSSIP':
        return this.d.gossiper.handleGossip(request);
      case 'AAE_TREE':
      case 'AAE_SEGMENTS':
      case 'AAE_FETCH':
      case 'AAE_TOMB_CHECK':
      case 'AAE_REAP':
        return this.d.antiEntropy(request);
      case 'RING_EXCHANGE':
        return this.d.ringExchange(from, request);
      case 'TRANSFER_FETCH':
        return this.d.transferFetch(request);
      case 'ADMIN':
        this.d.admin(request);
        return { type: 'ACK', count: 1 };
    }
  }

  /**
   * Merges a replica's copy; as a fallback (`hintFor` set), records the hint
   * durably before the ACK, after the merge (the hint's generation must move
   * after the object did, see hints.ts).
   */
  private async store(partition: number, key: Uint8Array, object: Uint8Array, hintFor: string): Promise<void> {
    const obj = this.decode(partition, key, object);
    await this.d.replica.merge(key, obj, object);
    if (hintFor !== '' && hintFor !== this.d.self) await this.d.addHint(hintFor, partition, key);
    else await this.adopt(partition, key);
  }

  /**
   * A copy sent to this node as a replica when, in this node's own ring, it
   * is not one (the sender routed by an older or newer ring): keep it as a
   * hint for the partition's primaries, so handoff moves it where reads look.
   * Without this, an acknowledged write could sit only on nodes no reader
   * asks, and be stranded if the sender then loses its disk (simulation seed
   * 728 with --max-wipes 1).
   */
  private async adopt(partition: number, key: Uint8Array): Promise<void> {
    const primaries = this.d.primariesOf(partition);
    if (primaries.includes(this.d.self)) return;
    for (const target of primaries) await this.d.addHint(target, partition, key);
  }

  private checkPartition(partition: number, key: Uint8Array): void {
    const p = this.d.replica.partitionOf(key);
    if (p !== partition) throw new KvError('KV_BAD_ARGUMENT', `key belongs to partition ${p}, request says ${partition}`);
  }

  private decode(partition: number, key: Uint8Array, object: Uint8Array): Obj {
    this.checkPartition(partition, key);
    // Views, not a copy: the object's bytes are a received frame's, which nothing writes
    // into, and the merge stores a copy (the backend's) of whatever it keeps.
    const d = decodeObject(object, { copyValues: false });
    if (!d.ok) throw new KvError('KV_BAD_ARGUMENT', `object does not decode: ${d.reason}`);
    return d.value;
  }
}

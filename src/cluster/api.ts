/**
 * The contract of a cluster node, fixed before its implementation so the
 * simulation (src/cluster/sim/) and the process wiring (src/node/node.ts)
 * can be written against it. Implemented by `ClusterNode` in
 * src/cluster/cluster_node.ts.
 */
import type { NodeId } from '../core/types.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import type { StorageBackend } from '../storage/backend.js';
import type { Replica } from '../node/replica.js';
import type { KvService } from '../node/service.js';
import type { NodeStats } from '../node/stats.js';
import type { Clock, Random, Transport } from './effects.js';
import type { AaeConfig, PartitionAaeStatus } from './anti_entropy.js';

export interface ClusterConfig {
  readonly n: number;
  readonly r: number;
  readonly w: number;
  /** log2 of the number of ring partitions (same on every node). */
  readonly partitionBits: number;
  /** Bound of a client request, end to end. */
  readonly requestTimeoutMs: number;
  /** Bound of one node-to-node request. Default 1000. */
  readonly peerTimeoutMs: number;
  /** Default 1000. */
  readonly gossipIntervalMs: number;
  /** Default 1000. */
  readonly handoffIntervalMs: number;
  /** phi threshold for suspicion. Default 8. */
  readonly phiThreshold: number;
  /** Consecutive failed requests to a peer that mark it down locally. Default 3. */
  readonly maxConsecutiveFailures: number;
  /** Anti-entropy (issue 7; src/cluster/anti_entropy.ts); unset fields take defaultAaeConfig's. */
  readonly aae?: Partial<AaeConfig>;
  /** Read repair after a get (default true; tests switch it off to show anti-entropy alone heals). */
  readonly readRepair?: boolean;
  /** Hinted handoff delivery (default true; tests switch it off likewise; hints are still stored). */
  readonly handoff?: boolean;
  /** Issue 6: partition transfers into one node at a time. Default 2. */
  readonly maxTransfers?: number;
  /** Issue 6: keys per transfer chunk. Default 128. */
  readonly transferChunkKeys?: number;
  /** Issue 6: bytes per second a node receives by transfer (all its transfers together); 0 or absent = unlimited. */
  readonly transferRateBytes?: number;
}

export const defaultClusterConfig: ClusterConfig = {
  n: 3,
  r: 2,
  w: 2,
  partitionBits: 6,
  requestTimeoutMs: 5000,
  peerTimeoutMs: 1000,
  gossipIntervalMs: 1000,
  handoffIntervalMs: 1000,
  phiThreshold: 8,
  maxConsecutiveFailures: 3,
};

export interface ClusterNodeOptions {
  readonly nodeId: NodeId;
  /** Where peers reach this node (host:port in production, the node id in simulation). */
  readonly address: string;
  readonly weight: number;
  /** Addresses of nodes to join through (`--join`); empty for the first node. */
  readonly seeds: readonly string[];
  /** This start's incarnation: the caller persists it and passes a higher one after every restart. */
  readonly incarnation: number;
  readonly config: ClusterConfig;
  /** The local versioned store (its replicaId is this node's clock id). */
  readonly replica: Replica;
  /** A durable backend dedicated to hint records (partition 0 holds them all). */
  readonly hintBackend: StorageBackend;
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  readonly stats: NodeStats;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Anti-entropy trees saved at the last clean shutdown (AntiEntropy.persist), if any: used once, else rebuilt. */
  readonly savedTrees?: Uint8Array;
}

export interface MemberStatus {
  readonly id: NodeId;
  readonly address: string;
  /** Status in the gossiped view. */
  readonly status: string;
  readonly incarnation: number;
  readonly heartbeat: number;
  /** This node's local verdict (phi + request failures). */
  readonly up: boolean;
  readonly phi: number;
  /** Partitions this member owns in this node's ring. */
  readonly partitions: number;
}

export interface ClusterStatus {
  readonly nodeId: NodeId;
  readonly ringVersion: string;
  readonly members: readonly MemberStatus[];
  /** Partitions whose preference list includes this node. */
  readonly partitionsHeld: number;
  /** Pending hints per target node. */
  readonly hintsPending: Readonly<Record<NodeId, number>>;
  /** Anti-entropy per partition this node exchanged (issue 7). */
  readonly aae?: readonly PartitionAaeStatus[];
  /** Issue 6: the cluster ring's epoch, whether a change is pending, and how many transfers it still needs. */
  readonly ringEpoch?: number;
  readonly ringPending?: boolean;
  readonly transfersPending?: number;
  /** Transfers into this node running now. */
  readonly transfers?: readonly TransferStatus[];
}

export interface TransferStatus {
  readonly partition: number;
  readonly source: NodeId;
  readonly target: NodeId;
  readonly keys: number;
  readonly bytes: number;
  /** The source's key count of the partition at the last chunk (for the ETA). */
  readonly keysTotal: number;
  /** Bytes per second since the transfer (re)started. */
  readonly bytesPerSec: number;
  /** Estimated time left from the key rate, or -1 when unknown. */
  readonly etaMs: number;
}

/** What node.ts and the simulation need from a cluster node. */
export interface ClusterNodeApi extends KvService {
  /** Loads hints, starts gossip and handoff timers, installs the peer handler. */
  start(): Promise<void>;
  /** Stops timers and in-flight background work (does not close the replica or transport). */
  stop(): Promise<void>;
  /** The handler the transport calls for peer requests (also installed by start()). */
  handlePeer(from: NodeId, request: PeerRequest): PeerReply | Promise<PeerReply>;
  status(): ClusterStatus;
  /** 64-bit FNV-1a of the ring's owners, for HELLO_OK and RING. */
  ringVersion(): bigint;
  /** Number of members this node currently considers active (for readiness checks). */
  memberCount(): number;
  /** Issue 6: this node hands off its partitions and leaves the ring. */
  leave?(): void;
  /** Issue 6: `node` (down for good) is removed; its partitions are rebuilt from the other replicas. */
  remove?(node: NodeId): void;
  /** Issue 6: this node left: it owns nothing and holds no hints (the process may exit). */
  hasLeft?(): boolean;
  /** Issue 6: the ring partition p routes by, and the current ring (for RING replies). */
  currentRing?(): import('../core/ring.js').Ring;
}

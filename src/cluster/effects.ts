/**
 * The effects a cluster node performs, behind interfaces with a real and a
 * simulated implementation, so a whole cluster can run in one process from
 * one seed (src/cluster/sim/) or as real processes over TCP.
 *
 * Cluster logic must reach time, randomness and the network ONLY through
 * these: never `Date.now`, `setTimeout`, `Math.random` or a socket directly.
 */
import type { NodeId, Random } from '../core/types.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';

export type { Random };

export interface Timer {
  /** Cancels the timer; a no-op once it fired. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since some fixed origin (wall clock in production, virtual in simulation). */
  now(): number;
  /** Runs `fn` once after `ms` (≥ 0) milliseconds. */
  setTimer(ms: number, fn: () => void): Timer;
}

/**
 * Handles a request from a peer and answers it (a rejected promise becomes an
 * ERROR reply). It may answer at once (a replica read of a synchronous store:
 * no promise, no microtask hop); it never throws.
 */
export type PeerHandler = (from: NodeId, request: PeerRequest) => PeerReply | Promise<PeerReply>;

/**
 * Node-to-node messaging. Requests are matched to replies; delivery is not
 * guaranteed (the network may drop, delay or reorder), so every request has a
 * timeout and fails with a KvError (`KV_TIMEOUT`, `KV_UNAVAILABLE`) instead of
 * hanging.
 */
export interface Transport {
  /**
   * Sends `request` to `to`; resolves with its reply or rejects with a KvError
   * (a PEER_ERROR reply is turned into a rejection with its code, so callers
   * never see PEER_ERROR).
   */
  request(to: NodeId, request: PeerRequest, timeoutMs: number): Promise<PeerReply>;
  /**
   * Sends `request` to whoever listens at `address` (a `--join` seed whose id
   * is not known yet); resolves with the peer's id and its reply.
   */
  requestAddress(address: string, request: PeerRequest, timeoutMs: number): Promise<{ readonly from: NodeId; readonly reply: PeerReply }>;
  /** Installs the handler for requests addressed to this node. */
  serve(handler: PeerHandler): void;
  /** Tells the transport where a peer listens (learned from gossip). */
  setAddress(node: NodeId, address: string): void;
  close(): Promise<void>;
  /** Cumulative I/O counters for STATS (how well peer frames coalesce into socket writes), if the transport keeps any. */
  counters?(): Readonly<Record<string, number>>;
}

/**
 * The ring a cluster node routes by: a core/ring_plan `ClusterRing`, the
 * gossiped and versioned value with its pending next ring, plus the version
 * it announces (docs/cluster.md, "Elastic membership").
 */
import * as M from '../core/membership.js';
import * as RP from '../core/ring_plan.js';
import type { Ring } from '../core/ring.js';
import type { NodeId } from '../core/types.js';

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;
const utf8 = new TextEncoder();

/**
 * 64-bit FNV-1a over the owners array: each owner's UTF-8 bytes followed by
 * one 0x00 byte (ids never contain NUL, so the separator keeps ["ab","c"]
 * and ["a","bc"] apart). Used for equality only (HELLO_OK, RING).
 */
export const ringVersionOf = (owners: readonly NodeId[]): bigint => {
  let h = FNV_OFFSET;
  for (const owner of owners) {
    for (const byte of utf8.encode(owner)) {
      h ^= BigInt(byte);
      h = (h * FNV_PRIME) & MASK;
    }
    h = (h * FNV_PRIME) & MASK; // the 0x00 separator: xor with 0 is a no-op
  }
  return h;
};

/** The member set the ring depends on, as a comparable string (ids and weights, sorted). */
export const memberSetKey = (members: readonly M.Entry[]): string =>
  members.map((m) => `${m.id}\u0000${m.weight}`).join('\u0001');

/**
 * Members a ring is claimed over: every node in the view that is joining or
 * up (or marked down: a failure is temporary and moves nothing); leaving and
 * removed nodes are on their way out.
 */
export const claimMembers = (view: M.View): readonly RP.Member[] =>
  [...view.values()]
    .filter((e) => e.status === 'joining' || e.status === 'up' || e.status === 'down')
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((e) => ({ id: e.id, weight: e.weight }));

/** The version announced for a cluster ring: the owners' hash, extended by the pending plan when there is one. */
export const clusterRingVersion = (r: RP.ClusterRing): bigint =>
  r.next === null ? ringVersionOf(r.current.owners) : ringVersionOf([...r.current.owners, '', ...r.next.owners, '', ...r.done]);

/**
 * The cluster ring this node routes by (core/ring_plan): the current ring
 * (`ring`, what aae and RING read), the pending next ring, and per partition
 * which of the two its preference list follows.
 */
export class RingState {
  private value: RP.ClusterRing;
  private currentVersion: bigint;

  constructor(
    partitionBits: number,
    private readonly n: number,
    self: NodeId,
  ) {
    this.value = RP.provisional(self, partitionBits);
    this.currentVersion = clusterRingVersion(this.value);
  }

  /** The current ring (ownership now). */
  get ring(): Ring {
    return this.value.current;
  }

  get version(): bigint {
    return this.currentVersion;
  }

  get cluster(): RP.ClusterRing {
    return this.value;
  }

  /** The ring partition p routes by (the current one until the plan commits: core/ring_plan `routeRing`). */
  routeRing(p: number): Ring {
    return RP.routeRing(this.value, p, this.n);
  }

  /** Nodes entering p's preference list while a plan is pending: they get every write too (double-write). */
  extraTargets(p: number): readonly NodeId[] {
    return RP.extraTargets(this.value, p, this.n);
  }

  holdersOf(p: number): readonly NodeId[] {
    return RP.holdersOf(this.value, p, this.n);
  }

  /** Replaces the value (the caller merged or derived it); true when it changed. */
  set(next: RP.ClusterRing): boolean {
    if (next === this.value || RP.equals(next, this.value)) return false;
    this.value = next;
    this.currentVersion = clusterRingVersion(next);
    return true;
  }
}

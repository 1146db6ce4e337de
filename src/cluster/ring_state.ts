/**
 * The ring a cluster node routes by: `claimInitial` over the active members
 * of its membership view (sorted by id, weighted by their entries), rebuilt
 * only when that member set changes, plus the ring version it announces.
 *
 * Every node that sees the same active members computes the same ring, so
 * routing agrees once gossip has converged; until then, read repair and
 * hinted handoff find keys written under an older ring (docs/cluster.md).
 */
import { claimInitial } from '../core/claim.js';
import * as M from '../core/membership.js';
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

export class RingState {
  private currentRing: Ring;
  private currentVersion: bigint;
  private key: string;

  constructor(
    private readonly partitionBits: number,
    private readonly n: number,
    view: M.View,
  ) {
    const members = M.activeMembers(view);
    this.key = memberSetKey(members);
    this.currentRing = build(partitionBits, n, members);
    this.currentVersion = ringVersionOf(this.currentRing.owners);
  }

  get ring(): Ring {
    return this.currentRing;
  }

  get version(): bigint {
    return this.currentVersion;
  }

  /** Rebuilds the ring when the view's active member set changed; true when ownership moved. */
  update(view: M.View): boolean {
    const members = M.activeMembers(view);
    const key = memberSetKey(members);
    if (key === this.key) return false;
    this.key = key;
    if (members.length === 0) return false; // never happens: a node always counts itself
    const next = build(this.partitionBits, this.n, members);
    const changed = next.owners.some((o, p) => o !== this.currentRing.owners[p]);
    this.currentRing = next;
    this.currentVersion = ringVersionOf(next.owners);
    return changed;
  }
}

const build = (partitionBits: number, n: number, members: readonly M.Entry[]): Ring =>
  claimInitial(
    partitionBits,
    members.map((m) => ({ id: m.id, weight: m.weight })),
    { n },
  );

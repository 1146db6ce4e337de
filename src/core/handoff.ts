/**
 * Handoff planning: what has to be copied where when the ring changes, and
 * which hints can be delivered now. Pure: the shell streams the partitions,
 * waits for acknowledgements, and only then lets a leaving node drop its copy.
 *
 * A placement is, per partition, the set of nodes that hold a replica: the
 * partition's preference list of length n. Order inside an entry is not
 * significant to the laws below.
 *
 * Laws (tested in test/core/handoff.test.ts):
 *   applyPlan(placementOf(old, n), planHandoff(old, new, n)) ≡ placementOf(new, n)   (as sets)
 *   sameOwners(old, new) ⇒ planHandoff(old, new, n).partitions = []
 *   every transfer: source ∈ placementOf(old, n)[p], target ∈ placementOf(new, n)[p] \ placementOf(old, n)[p]
 *   every leaving node: ∈ placementOf(old, n)[p] \ placementOf(new, n)[p]
 *   hintsToDeliver(hs, isUp) holds each hint whose target is up exactly once,
 *     grouped by target in id order, each group in partition order
 */
import type { NodeId, PartitionId } from './types.js';
import { compareNodeIds, preferenceList, type Ring } from './ring.js';

// ---------------------------------------------------------------------------
// model

/** Per partition, the nodes holding a replica. */
export type Placement = readonly (readonly NodeId[])[];

/** Copy partition `partition` from `source` (which holds it) to `target` (which does not yet). */
export interface Transfer {
  readonly partition: PartitionId;
  readonly source: NodeId;
  readonly target: NodeId;
}

export interface PartitionHandoff {
  readonly partition: PartitionId;
  /** One per node that newly enters the partition's replica set. */
  readonly transfers: readonly Transfer[];
  /** Nodes no longer in the replica set: they may drop their copy once every transfer of this partition is acknowledged. */
  readonly leaving: readonly NodeId[];
}

export interface HandoffPlan {
  readonly n: number;
  readonly fromVersion: number;
  readonly toVersion: number;
  /** Only partitions whose replica set changes, ascending. */
  readonly partitions: readonly PartitionHandoff[];
}

/** A pending hint: data a fallback stored on behalf of `target`. */
export interface HintRef {
  readonly target: NodeId;
  readonly partition: PartitionId;
}

export interface HintDelivery<H extends HintRef> {
  readonly target: NodeId;
  readonly hints: readonly H[];
}

// ---------------------------------------------------------------------------
// constructors

/** The replica sets of a ring: each partition's preference list of length n (cached by the ring). */
export const placementOf = (ring: Ring, n: number): Placement =>
  Array.from({ length: ring.partitionCount }, (_, p) => preferenceList(ring, p, n));

/**
 * The handoff from `before` to `after` for replication n. The source of each
 * transfer is the old primary owner when it is up, else the first up node of
 * the old replica set, else (nobody up) the old primary all the same: the
 * transfer then waits for it. `isUp` defaults to everyone up.
 */
export const planHandoff = (
  before: Ring,
  after: Ring,
  n: number,
  isUp: (node: NodeId) => boolean = () => true,
): HandoffPlan => {
  if (before.partitionCount !== after.partitionCount) throw new RangeError('handoff: rings differ in partition count');
  const partitions: PartitionHandoff[] = [];
  for (let p = 0; p < before.partitionCount; p++) {
    const was = preferenceList(before, p, n);
    const now = preferenceList(after, p, n);
    if (was === now) continue; // same cached list (same ring)
    const entering = now.filter((x) => !was.includes(x));
    const leaving = was.filter((x) => !now.includes(x));
    if (entering.length === 0 && leaving.length === 0) continue;
    const source = was.find(isUp) ?? was[0]!;
    partitions.push({
      partition: p,
      transfers: entering.map((target) => ({ partition: p, source, target })),
      leaving,
    });
  }
  return { n, fromVersion: before.version, toVersion: after.version, partitions };
};

// ---------------------------------------------------------------------------
// combinators

/** The placement once every transfer has landed and every leaving node has dropped its copy. */
export const applyPlan = (placement: Placement, plan: HandoffPlan): Placement => {
  const out = placement.slice();
  for (const h of plan.partitions) {
    const current = out[h.partition];
    if (current === undefined) throw new RangeError(`handoff: partition ${h.partition} is outside the placement`);
    const kept = current.filter((x) => !h.leaving.includes(x));
    out[h.partition] = [...kept, ...h.transfers.map((t) => t.target).filter((x) => !kept.includes(x))];
  }
  return out;
};

/** Every transfer of the plan, in partition order. */
export const transfersOf = (plan: HandoffPlan): readonly Transfer[] => plan.partitions.flatMap((h) => h.transfers);

/** Transfers grouped by the node that sends them (ids in order): each node's outgoing work. */
export const transfersBySource = (plan: HandoffPlan): ReadonlyMap<NodeId, readonly Transfer[]> => {
  const m = new Map<NodeId, Transfer[]>();
  for (const t of transfersOf(plan)) {
    const list = m.get(t.source);
    if (list === undefined) m.set(t.source, [t]);
    else list.push(t);
  }
  return new Map([...m.entries()].sort(([a], [b]) => compareNodeIds(a, b)));
};

/**
 * Pending hints whose target is up, grouped by target (targets in id order),
 * each group in partition order; hints of one partition keep their input
 * order unless `tieBreak` orders them, which makes the result independent of
 * the input's order.
 */
export const hintsToDeliver = <H extends HintRef>(
  hints: readonly H[],
  isUp: (node: NodeId) => boolean,
  tieBreak?: (a: H, b: H) => number,
): readonly HintDelivery<H>[] => {
  const groups = new Map<NodeId, H[]>();
  const up = new Map<NodeId, boolean>();
  for (const h of hints) {
    let ok = up.get(h.target);
    if (ok === undefined) {
      ok = isUp(h.target);
      up.set(h.target, ok);
    }
    if (!ok) continue;
    const g = groups.get(h.target);
    if (g === undefined) groups.set(h.target, [h]);
    else g.push(h);
  }
  // Array.prototype.sort is stable, so equal keys keep their input order.
  const order = (a: H, b: H): number => a.partition - b.partition || (tieBreak === undefined ? 0 : tieBreak(a, b));
  return [...groups.entries()]
    .sort(([a], [b]) => compareNodeIds(a, b))
    .map(([target, hs]) => ({ target, hints: hs.sort(order) }));
};

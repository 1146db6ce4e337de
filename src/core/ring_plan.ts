/**
 * The cluster's ring as a gossiped, versioned value with a pending next ring
 * (issue 6): who owns what now, who will own what once the moving partitions
 * have been copied, and which of those copies have finished.
 *
 * A `ClusterRing` is identified by (epoch, committer). Two values merge
 * deterministically: the higher epoch wins, then the greater committer id,
 * then the greater content key (only reachable if a node lost its state and
 * reused an epoch); two values with the same identity and the same rings
 * merge their `done` sets by union. So gossip converges on one value whatever
 * order the exchanges take.
 *
 * A change of members (join, leave, remove, weight) is a *proposal*: the
 * next ring is `claim` over the new members starting from the previous
 * target (minimal moves), and every node entering a partition's preference
 * list must receive that partition (a transfer) before it serves it. A
 * partition whose transfers are all done routes by the next ring at once; the
 * others keep routing by the current one, and writes go to both lists while
 * the plan is pending (double-write). When every transfer is done, `commit`
 * makes next current: a pure function of the value, so every node that
 * commits gets the same result.
 *
 * Laws (tested in test/core/ring_plan.test.ts):
 *   merge(a, b) ≡ merge(b, a);  merge(a, merge(b, c)) ≡ merge(merge(a, b), c);  merge(a, a) = a
 *   compare(merge(a, b), a) ≥ 0                                   (merging never goes back)
 *   propose(r, members(r's target), …) = r                         (no change, no new value)
 *   transfers of propose(r, …): target ∈ pref(next, p) \ pref(current, p)
 *   commit(r) ≠ null ⇔ next ≠ null and every transfer is done
 *   routeRing(r, p) = next for every p whose transfers are done, current otherwise
 */
import { claim, claimInitial, type NodeSpec } from './claim.js';
import { compareNodeIds, makeRing, preferenceList, sameOwners, singleton, type Ring } from './ring.js';
import type { NodeId, PartitionId } from './types.js';

// ---------------------------------------------------------------------------
// model

export interface Member {
  readonly id: NodeId;
  readonly weight: number;
}

export interface ClusterRing {
  /** 0: a node's provisional ring before it learnt (or made) a real one; loses to any other. */
  readonly epoch: number;
  /** The node that proposed this value (a commit keeps the proposer). */
  readonly committer: NodeId;
  /** Ownership that reads and writes follow now. */
  readonly current: Ring;
  /** The ownership being moved to, or null when nothing moves. */
  readonly next: Ring | null;
  /** The members (with weights) the target ring (`next ?? current`) was claimed over, sorted by id. */
  readonly members: readonly Member[];
  /** Finished transfers into `next`, as `transferKey`, sorted. */
  readonly done: readonly string[];
}

/** One partition to copy to a node entering its preference list. */
export interface PlannedTransfer {
  readonly partition: PartitionId;
  readonly target: NodeId;
  /** Nodes that hold the partition now (its current preference list), in preference order. */
  readonly sources: readonly NodeId[];
}

export const transferKey = (partition: PartitionId, target: NodeId): string => `${partition}:${target}`;

// ---------------------------------------------------------------------------
// constructors

/** A node's ring before it knows the cluster's: itself alone, epoch 0. */
export const provisional = (self: NodeId, qBits: number): ClusterRing => ({
  epoch: 0,
  committer: self,
  current: singleton(self, qBits),
  next: null,
  members: [{ id: self, weight: 1 }],
  done: [],
});

const sortMembers = (members: readonly Member[]): readonly Member[] =>
  members.slice().sort((a, b) => compareNodeIds(a.id, b.id));

export const memberKey = (members: readonly Member[]): string => sortMembers(members).map((m) => `${m.id}\u0000${m.weight}`).join('\u0001');

// ---------------------------------------------------------------------------
// the order and the merge

/** The rings' content, to tell apart two values that share an identity. */
const contentKey = (r: ClusterRing): string => `${r.current.owners.join('\u0000')}\u0001${r.next === null ? '' : r.next.owners.join('\u0000')}`;

/** Total order on identities (epoch, committer, content); done sets do not take part. */
export const compare = (a: ClusterRing, b: ClusterRing): number => {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  const c = compareNodeIds(a.committer, b.committer);
  if (c !== 0) return c;
  const ka = contentKey(a);
  const kb = contentKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

const unionSorted = (a: readonly string[], b: readonly string[]): readonly string[] => {
  const s = new Set(a);
  for (const x of b) s.add(x);
  return [...s].sort();
};

/** The join of two values; returns `a` itself when `b` adds nothing. */
export const merge = (a: ClusterRing, b: ClusterRing): ClusterRing => {
  const c = compare(a, b);
  if (c > 0) return a;
  if (c < 0) return b;
  if (b.done.every((x) => a.done.includes(x))) return a;
  return { ...a, done: unionSorted(a.done, b.done) };
};

export const equals = (a: ClusterRing, b: ClusterRing): boolean =>
  compare(a, b) === 0 && a.done.length === b.done.length && a.done.every((x, i) => x === b.done[i]);

// ---------------------------------------------------------------------------
// transfers and routing

/** Every transfer the plan needs (done or not), in partition order. */
export const plannedTransfers = (r: ClusterRing, n: number): readonly PlannedTransfer[] => {
  if (r.next === null) return [];
  const out: PlannedTransfer[] = [];
  for (let p = 0; p < r.current.partitionCount; p++) {
    const was = preferenceList(r.current, p, n);
    const now = preferenceList(r.next, p, n);
    for (const target of now) if (!was.includes(target)) out.push({ partition: p, target, sources: was });
  }
  return out;
};

/** Transfers not done yet. */
export const pendingTransfers = (r: ClusterRing, n: number): readonly PlannedTransfer[] =>
  plannedTransfers(r, n).filter((t) => !r.done.includes(transferKey(t.partition, t.target)));

/**
 * The ring whose preference list partition p follows now: the current ring
 * until the plan commits, when every partition switches at once. Switching a
 * partition as soon as its own transfers were done sent requests to a joining
 * node still busy receiving the others, and foreground throughput during a
 * join fell to a tenth (bench:membership).
 */
export const routeRing = (r: ClusterRing, _p: PartitionId, _n: number): Ring => r.current;

/** Nodes that also get every write to p while the plan is pending: those entering p's list (next minus current). */
export const extraTargets = (r: ClusterRing, p: PartitionId, n: number): readonly NodeId[] => {
  if (r.next === null) return [];
  const cur = preferenceList(r.current, p, n);
  return preferenceList(r.next, p, n).filter((x) => !cur.includes(x));
};

/** Nodes that must keep p's data: its current and (while pending) next preference lists. */
export const holdersOf = (r: ClusterRing, p: PartitionId, n: number): readonly NodeId[] => {
  const cur = preferenceList(r.current, p, n);
  if (r.next === null) return cur;
  return [...cur, ...preferenceList(r.next, p, n).filter((x) => !cur.includes(x))];
};

// ---------------------------------------------------------------------------
// changes

/** Records a finished transfer; the same value when it was already recorded or is not part of the plan. */
export const markDone = (r: ClusterRing, partition: PartitionId, target: NodeId, n: number): ClusterRing => {
  const k = transferKey(partition, target);
  if (r.next === null || r.done.includes(k)) return r;
  if (!plannedTransfers(r, n).some((t) => t.partition === partition && t.target === target)) return r;
  return { ...r, done: unionSorted(r.done, [k]) };
};

/** Next becomes current once every transfer is done; null while something is pending (or nothing is). */
export const commit = (r: ClusterRing, n: number): ClusterRing | null => {
  if (r.next === null || pendingTransfers(r, n).length > 0) return null;
  return { epoch: r.epoch + 1, committer: r.committer, current: r.next, next: null, members: r.members, done: [] };
};

/**
 * A new value whose target ring is claimed over `members`, or `r` itself
 * when the members (and weights) are those of the current target. From a
 * provisional ring (epoch 0) the first real ring is claimed from scratch and
 * is current at once: there is nothing to move yet. Otherwise the new target
 * is `claim` from the previous target (minimal moves); transfers already done
 * that the new plan still needs are kept.
 */
export const propose = (r: ClusterRing, members: readonly Member[], n: number, proposer: NodeId): ClusterRing => {
  const sorted = sortMembers(members);
  if (sorted.length === 0) return r;
  if (r.epoch > 0 && memberKey(sorted) === memberKey(r.members)) return r;
  const specs: NodeSpec[] = sorted.map((m) => ({ id: m.id, weight: m.weight }));
  const qBits = r.current.qBits;
  if (r.epoch === 0) {
    const ring = claimInitial(qBits, specs, { n });
    return { epoch: 1, committer: proposer, current: makeRing(ring.owners, 1), next: null, members: sorted, done: [] };
  }
  const base = r.next ?? r.current;
  const target = claim(qBits, specs, base, { n });
  const epoch = r.epoch + 1;
  if (sameOwners(target, r.current)) {
    return { epoch, committer: proposer, current: r.current, next: null, members: sorted, done: [] };
  }
  const next = makeRing(target.owners, epoch);
  const draft: ClusterRing = { epoch, committer: proposer, current: r.current, next, members: sorted, done: [] };
  const still = new Set(plannedTransfers(draft, n).map((t) => transferKey(t.partition, t.target)));
  return { ...draft, done: r.done.filter((k) => still.has(k)) };
};

/** Partition counts per node in the ring a value is heading to. */
export const targetRing = (r: ClusterRing): Ring => r.next ?? r.current;

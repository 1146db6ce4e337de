/**
 * Cluster membership as gossiped state: a view maps each node id to a
 * versioned entry, and two views merge by a join (least upper bound), so any
 * order of gossip exchanges converges to the same view.
 *
 * The join of two entries of one node:
 *
 *   1. The higher incarnation wins outright. Only the node bumps its
 *      incarnation, when it (re)starts or refutes a status others gave it, so
 *      a restarted node overrides every stale entry about it, 'down' and
 *      'removed' included.
 *   2. Within one incarnation, status and heartbeat join separately:
 *      - status takes the higher rank, joining < up < leaving < down <
 *        removed. Status only moves forward within an incarnation, so a
 *        'down' or 'removed' set by any node sticks until the node itself
 *        starts a new incarnation ('removed', the top, is sticky for the
 *        whole incarnation). This is SWIM's rule: an accusation stands until
 *        the accused answers with a higher incarnation.
 *      - heartbeat takes the maximum, and the node-owned fields (address,
 *        claimVersion, weight) come with the higher heartbeat; ties break on
 *        claimVersion, weight, address so the join is total on any input.
 *
 * Why status and heartbeat join separately rather than lexicographically
 * (incarnation, status, heartbeat): with a lexicographic order, an
 * accusation made from an old copy of the entry ("down at heartbeat 4") would
 * replace the node's newer heartbeats and claim ("up at heartbeat 9, claim
 * 3") wholesale, and the node's own view of itself would roll back. As a
 * product of two joins (status by max, (heartbeat, fields) by max) nothing the
 * node published is lost, and the status still outranks any heartbeat.
 *
 * Invariant kept by this API: within one incarnation, a heartbeat names one
 * content (address, claimVersion, weight), because only the node creates new
 * heartbeats (`bumpHeartbeat`, `updateSelf`, `restart`), from its own
 * entry, whose heartbeat never goes back; others change only the status. So a
 * digest of (incarnation, status, heartbeat) is enough to decide what a peer
 * lacks.
 *
 * Laws (tested in test/core/membership.test.ts):
 *   merge(a, b) = merge(b, a)                           (commutative)
 *   merge(a, merge(b, c)) = merge(merge(a, b), c)       (associative)
 *   merge(a, a) = a                                     (idempotent)
 *   a ⊑ merge(a, b)                                     (monotonic: no entry decreases)
 *   merge(b, delta(a, digest(b))) = merge(a, b)         (for views built by this API)
 *   delta(a, digest(a)) = []
 *   random pairwise gossip among k views converges to the join of them all
 */
import * as E from 'fp-ts/lib/Either.js';
import * as O from 'fp-ts/lib/Option.js';
import type { NodeId, Random } from './types.js';

// ---------------------------------------------------------------------------
// model

export type Status = 'joining' | 'up' | 'leaving' | 'down' | 'removed';

export const statuses: readonly Status[] = ['joining', 'up', 'leaving', 'down', 'removed'];

/** Precedence within one incarnation; a higher rank wins a merge. */
export const statusRank: Readonly<Record<Status, number>> = { joining: 0, up: 1, leaving: 2, down: 3, removed: 4 };

export interface Entry {
  readonly id: NodeId;
  /** Where peers reach the node (host:port); opaque to the core. */
  readonly address: string;
  readonly status: Status;
  readonly incarnation: number;
  readonly heartbeat: number;
  /** Version of the node's partition claim; the ring rebuilds when it moves. */
  readonly claimVersion: number;
  /** Relative capacity; scales the node's share of partitions. */
  readonly weight: number;
}

/** A node's entries by id. Unchanged inputs come back by reference. */
export type View = ReadonlyMap<NodeId, Entry>;

/** What a peer tells about the versions it holds, so that only newer entries are sent back. */
export interface Version {
  readonly incarnation: number;
  readonly status: Status;
  readonly heartbeat: number;
}

export type Digest = ReadonlyMap<NodeId, Version>;

// ---------------------------------------------------------------------------
// constructors

export const emptyView: View = new Map();

/** A node's first entry: joining, incarnation 0 (or the caller's boot generation). */
export const entry = (
  id: NodeId,
  address: string,
  options: { readonly weight?: number; readonly incarnation?: number; readonly status?: Status } = {},
): Entry => ({
  id,
  address,
  status: options.status ?? 'joining',
  incarnation: options.incarnation ?? 0,
  heartbeat: 0,
  claimVersion: 0,
  weight: options.weight ?? 1,
});

/** A reason an entry (e.g. decoded from a peer) is unusable, or null. */
export const invalidEntry = (e: Entry): string | null => {
  if (typeof e.id !== 'string' || e.id.length === 0) return 'id must be a non-empty string';
  if (!(e.status in statusRank)) return `unknown status ${String(e.status)}`;
  for (const f of ['incarnation', 'heartbeat', 'claimVersion'] as const) {
    if (!Number.isSafeInteger(e[f]) || e[f] < 0) return `${f} must be a non-negative safe integer`;
  }
  if (!Number.isFinite(e.weight) || e.weight <= 0) return 'weight must be a positive number';
  return null;
};

// ---------------------------------------------------------------------------
// the order

const sign = (x: number): -1 | 0 | 1 => (x < 0 ? -1 : x > 0 ? 1 : 0);

/** Order on the node-owned part: heartbeat, then the tie-breaks. */
const compareContent = (a: Entry, b: Entry): -1 | 0 | 1 =>
  sign(a.heartbeat - b.heartbeat) ||
  sign(a.claimVersion - b.claimVersion) ||
  sign(a.weight - b.weight) ||
  (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

/** The join of two entries of one node; returns an input by reference when it is the join. */
export const joinEntry = (a: Entry, b: Entry): Entry => {
  if (a.incarnation !== b.incarnation) return a.incarnation > b.incarnation ? a : b;
  const content = compareContent(a, b) >= 0 ? a : b;
  const status = statusRank[a.status] >= statusRank[b.status] ? a.status : b.status;
  if (content.status === status) return content;
  const other = content === a ? b : a;
  if (other.status === status && compareContent(other, content) === 0) return other;
  return { ...content, status };
};

/** a ⊑ b for two entries of one node: joinEntry(a, b) = b. */
export const leqEntry = (a: Entry, b: Entry): boolean =>
  a.incarnation < b.incarnation ||
  (a.incarnation === b.incarnation && statusRank[a.status] <= statusRank[b.status] && compareContent(a, b) <= 0);

export const equalsEntry = (a: Entry, b: Entry): boolean =>
  a.id === b.id && a.incarnation === b.incarnation && a.status === b.status && compareContent(a, b) === 0;

/** True when an entry at version `v` lacks something `e` has. */
const newerThan = (e: Entry, v: Version): boolean =>
  e.incarnation > v.incarnation ||
  (e.incarnation === v.incarnation && (statusRank[e.status] > statusRank[v.status] || e.heartbeat > v.heartbeat));

/** a ⊑ b: b knows every node a knows, each at least as new. */
export const leq = (a: View, b: View): boolean => {
  for (const [id, x] of a) {
    const y = b.get(id);
    if (y === undefined || !leqEntry(x, y)) return false;
  }
  return true;
};

export const equals = (a: View, b: View): boolean => {
  if (a.size !== b.size) return false;
  for (const [id, x] of a) {
    const y = b.get(id);
    if (y === undefined || !equalsEntry(x, y)) return false;
  }
  return true;
};

// ---------------------------------------------------------------------------
// combinators

/** The join: per node, the greater entry. Returns `a` itself when `b` adds nothing. */
export const merge = (a: View, b: View): View => {
  let out: Map<NodeId, Entry> | undefined;
  for (const [id, y] of b) {
    const x = a.get(id);
    const j = x === undefined ? y : joinEntry(x, y);
    if (j !== x) {
      out ??= new Map(a);
      out.set(id, j);
    }
  }
  return out ?? a;
};

/** Merges a list of entries (e.g. a peer's delta) into a view. */
export const applyEntries = (view: View, entries: readonly Entry[]): View => {
  let out: Map<NodeId, Entry> | undefined;
  for (const y of entries) {
    const x = (out ?? view).get(y.id);
    const j = x === undefined ? y : joinEntry(x, y);
    if (j !== x) {
      out ??= new Map(view);
      out.set(y.id, j);
    }
  }
  return out ?? view;
};

export const fromEntries = (entries: readonly Entry[]): View => applyEntries(emptyView, entries);

const setEntry = (view: View, e: Entry): View => new Map(view).set(e.id, e);

/** The node's periodic liveness signal: heartbeat + 1 on its own entry. */
export const bumpHeartbeat = (view: View, self: NodeId): View => {
  const e = view.get(self);
  return e === undefined ? view : setEntry(view, { ...e, heartbeat: e.heartbeat + 1 });
};

/**
 * A new incarnation of `self`: after a restart, or to refute a 'down' or
 * 'removed' others gave it. The incarnation becomes max(old + 1,
 * minIncarnation) — the shell may pass a boot generation (e.g. seconds since
 * epoch) so a node that lost its state still outranks its old entries. The
 * heartbeat restarts at 0; 'down' comes back 'up'; 'removed' comes back
 * 'joining' (a removed node must join again); other statuses are kept.
 */
export const restart = (view: View, self: NodeId, minIncarnation = 0): View => {
  const e = view.get(self);
  if (e === undefined) return view;
  const status: Status = e.status === 'down' ? 'up' : e.status === 'removed' ? 'joining' : e.status;
  return setEntry(view, { ...e, status, heartbeat: 0, incarnation: Math.max(e.incarnation + 1, minIncarnation) });
};

/** True when others' gossip says `self` is down or removed: time to `restart` (refute). */
export const needsRefute = (view: View, self: NodeId): boolean => {
  const e = view.get(self);
  return e !== undefined && (e.status === 'down' || e.status === 'removed');
};

/**
 * Moves a node's status forward within its incarnation (any node may do this,
 * e.g. an operator marking a dead node down). Going back (e.g. down → up) is
 * refused: only the node itself can undo it, by `restart`.
 */
export const markStatus = (view: View, id: NodeId, status: Status): E.Either<string, View> => {
  const e = view.get(id);
  if (e === undefined) return E.left(`unknown node ${id}`);
  if (e.status === status) return E.right(view);
  if (statusRank[status] < statusRank[e.status]) {
    return E.left(`${id}: ${e.status} → ${status} goes back within incarnation ${e.incarnation}; the node must restart`);
  }
  return E.right(setEntry(view, { ...e, status }));
};

/**
 * The node changes its own address, claim version or weight; the heartbeat
 * moves too, so the change wins merges and names a new version.
 */
export const updateSelf = (
  view: View,
  self: NodeId,
  patch: { readonly address?: string; readonly claimVersion?: number; readonly weight?: number },
): View => {
  const e = view.get(self);
  if (e === undefined) return view;
  return setEntry(view, {
    ...e,
    address: patch.address ?? e.address,
    claimVersion: patch.claimVersion ?? e.claimVersion,
    weight: patch.weight ?? e.weight,
    heartbeat: e.heartbeat + 1,
  });
};

// ---------------------------------------------------------------------------
// gossip

/** The versions of every entry: what a node sends to open an exchange. */
export const digest = (view: View): Digest => {
  const out = new Map<NodeId, Version>();
  for (const [id, e] of view) out.set(id, { incarnation: e.incarnation, status: e.status, heartbeat: e.heartbeat });
  return out;
};

/** The entries of `view` that the holder of `theirs` lacks or holds older, sorted by id. */
export const delta = (view: View, theirs: Digest): readonly Entry[] => {
  const out: Entry[] = [];
  for (const [id, e] of view) {
    const v = theirs.get(id);
    if (v === undefined || newerThan(e, v)) out.push(e);
  }
  return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
};

/**
 * A uniformly random peer to gossip with: any known node but `self` that is
 * not down or removed (the shell gossips with its seeds besides). Ids are
 * taken in sorted order, so the choice depends only on the view and `random`.
 */
export const pickGossipPeer = (view: View, self: NodeId, random: Random): O.Option<NodeId> => {
  const candidates: NodeId[] = [];
  for (const [id, e] of view) if (id !== self && e.status !== 'down' && e.status !== 'removed') candidates.push(id);
  if (candidates.length === 0) return O.none;
  candidates.sort();
  const i = Math.min(candidates.length - 1, Math.floor(random.next() * candidates.length));
  return O.some(candidates[i]!);
};

/** Nodes that own or are taking partitions (not down, not removed), sorted by id. */
export const activeMembers = (view: View): readonly Entry[] =>
  [...view.values()]
    .filter((e) => e.status === 'joining' || e.status === 'up' || e.status === 'leaving')
    .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));

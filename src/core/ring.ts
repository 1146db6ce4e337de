/**
 * The ring: the Dynamo paper's strategy 3. The hash space is cut into
 * Q = 2^qBits equal partitions; a key belongs to the partition named by the
 * top qBits of its 64-bit hash; every partition has one owner, and the
 * preference list of a partition walks the ring clockwise from it collecting
 * distinct owners.
 *
 * Model → constructors → combinators, as in fp-ts. A `Ring` is immutable; the
 * per-partition walks are computed once per ring (lazily, on first use) and
 * handed out as cached readonly arrays, so the hot lookups allocate nothing.
 *
 * Invalid input to a constructor throws `RangeError` (a programming error:
 * configuration is decoded and checked at the edge). `ringInvalid` returns the
 * reason as a string for callers that want a value instead of a throw.
 *
 * Laws (tested in test/core/ring.test.ts):
 *   0 ≤ partitionOfHash(r, h) < partitionCount(r)
 *   partitionOfHash(r, h) = partitionOfHash64(r, BigInt(h) << 32n | lo)   for any lo
 *   h1 ≤ h2 ⇒ partitionOfHash(r, h1) ≤ partitionOfHash(r, h2)           (ranges are contiguous)
 *   preferenceList(r, p, n)[0] = ownerOf(r, p)
 *   preferenceList(r, p, n) has min(n, nodes(r).length) distinct entries
 *   preferenceList(r, p, n) is a prefix of preferenceList(r, p, n + 1)
 *   isUp = const true ⇒ sloppyPreferenceList(r, p, n, isUp) = preferenceList(r, p, n) without hints
 *   |replicaLoad(r, n)(x) − n·owned(x)| ≤ (n − 1)·tailViolations(r, n)   for n ≤ Q (= 0 when no violation)
 *   withOwners(r, owners(r)) === r;  withOwners(r, o).version > r.version when o differs
 */
import type { NodeId, PartitionId } from './types.js';

// ---------------------------------------------------------------------------
// model

export interface Ring {
  /** log2 of the partition count, 1..12. */
  readonly qBits: number;
  /** Q = 2^qBits. */
  readonly partitionCount: number;
  /** owners[p] is the node that owns partition p. */
  readonly owners: readonly NodeId[];
  /** Distinct owners, sorted by id (code-unit order, locale-independent). */
  readonly nodes: readonly NodeId[];
  /** Increases whenever ownership changes; gossip keeps the highest. */
  readonly version: number;
}

/** One entry of a sloppy-quorum list: a fallback names the down primary it stands in for. */
export interface Replica {
  readonly node: NodeId;
  /** Present on a fallback: writes it takes are hints for this primary. */
  readonly hintFor?: NodeId;
}

export const MIN_Q_BITS = 1;
export const MAX_Q_BITS = 12;
export const DEFAULT_Q_BITS = 6;

/** Ids compare by code units so the order is the same in every locale. */
export const compareNodeIds = (a: NodeId, b: NodeId): number => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------
// validation

/** Why `qBits` is not a valid ring size, or null when it is. */
export const qBitsInvalid = (qBits: number): string | null =>
  !Number.isInteger(qBits)
    ? 'qBits must be an integer'
    : qBits < MIN_Q_BITS || qBits > MAX_Q_BITS
      ? `qBits must be in ${MIN_Q_BITS}..${MAX_Q_BITS} (Q = 2..4096)`
      : null;

/** Why `owners` cannot form a ring, or null when it can. */
export const ringInvalid = (owners: readonly NodeId[], version: number): string | null => {
  const q = owners.length;
  if (q < 2 || (q & (q - 1)) !== 0) return 'owners.length must be a power of two';
  const bits = qBitsInvalid(Math.log2(q));
  if (bits !== null) return bits;
  if (!Number.isSafeInteger(version) || version < 0) return 'version must be a non-negative safe integer';
  for (let p = 0; p < q; p++) {
    const o = owners[p];
    if (typeof o !== 'string' || o.length === 0) return `owner of partition ${p} must be a non-empty string`;
  }
  return null;
};

// ---------------------------------------------------------------------------
// constructors

/** A ring from its ownership map. Throws RangeError when `ringInvalid` says why not. */
export const makeRing = (owners: readonly NodeId[], version = 1): Ring => {
  const why = ringInvalid(owners, version);
  if (why !== null) throw new RangeError(`ring: ${why}`);
  const frozen = Object.freeze(owners.slice());
  const ring: Ring = {
    qBits: Math.log2(frozen.length),
    partitionCount: frozen.length,
    owners: frozen,
    nodes: Object.freeze([...new Set(frozen)].sort(compareNodeIds)),
    version,
  };
  const cache: RingCache = { walks: undefined, prefs: [], healthy: [] };
  Object.defineProperty(ring, CACHE, { value: cache, enumerable: false });
  return Object.freeze(ring);
};

/** A ring of 2^qBits partitions all owned by one node (a fresh single-node cluster). */
export const singleton = (node: NodeId, qBits = DEFAULT_Q_BITS, version = 1): Ring => {
  const why = qBitsInvalid(qBits);
  if (why !== null) throw new RangeError(`ring: ${why}`);
  return makeRing(new Array<NodeId>(2 ** qBits).fill(node), version);
};

// ---------------------------------------------------------------------------
// combinators

/** Two rings place every partition on the same owner (versions may differ). */
export const sameOwners = (a: Ring, b: Ring): boolean =>
  a.partitionCount === b.partitionCount && a.owners.every((o, p) => o === b.owners[p]);

/**
 * The ring with new owners: the same ring (by reference) when nothing
 * changed, otherwise one whose version is one higher.
 */
export const withOwners = (ring: Ring, owners: readonly NodeId[]): Ring => {
  if (owners.length === ring.partitionCount && owners.every((o, p) => o === ring.owners[p])) return ring;
  if (owners.length !== ring.partitionCount) throw new RangeError('ring: withOwners cannot change the partition count');
  return makeRing(owners, ring.version + 1);
};

/**
 * The partition of a key whose xxh3-64 hash has `hi32` as its top 32 bits
 * (an unsigned number, as `hashHi32` returns). Allocation-free.
 */
export const partitionOfHash = (ring: Ring, hi32: number): PartitionId => hi32 >>> (32 - ring.qBits);

/** The same from the whole 64-bit hash as a bigint (allocates; not for hot paths). */
export const partitionOfHash64 = (ring: Ring, hash: bigint): PartitionId =>
  Number(BigInt.asUintN(64, hash) >> BigInt(64 - ring.qBits));

/** The first hash (top 32 bits) that falls in partition p: partitions are contiguous ranges. */
export const partitionStartHi32 = (ring: Ring, p: PartitionId): number => (p * 2 ** (32 - ring.qBits)) >>> 0;

export const ownerOf = (ring: Ring, p: PartitionId): NodeId => ring.owners[p]!;

/** How many partitions each owner holds (owners only; a node with none is absent). */
export const ownershipCounts = (ring: Ring): ReadonlyMap<NodeId, number> => {
  const m = new Map<NodeId, number>();
  for (const o of ring.owners) m.set(o, (m.get(o) ?? 0) + 1);
  return m;
};

/** The partitions a node owns, ascending. */
export const partitionsOf = (ring: Ring, node: NodeId): readonly PartitionId[] => {
  const out: PartitionId[] = [];
  ring.owners.forEach((o, p) => {
    if (o === node) out.push(p);
  });
  return out;
};

// Per-ring caches live under a non-enumerable symbol key, fixed at
// construction: the ring stays a plain frozen value (JSON, equality and
// spreading ignore the key) while the hot lookups reach their cache with one
// property read instead of a WeakMap probe.
interface RingCache {
  walks: readonly (readonly NodeId[])[] | undefined;
  /** prefs[n]: every partition's preference list of length n. */
  readonly prefs: (readonly (readonly NodeId[])[] | undefined)[];
  /** healthy[n]: the same lists as `Replica`s, the sloppy list when every primary is up. */
  readonly healthy: (readonly (readonly Replica[])[] | undefined)[];
}
const CACHE = Symbol('ring.cache');
type Cached = Ring & { readonly [CACHE]: RingCache };
const cacheOf = (ring: Ring): RingCache => {
  const c = (ring as Partial<Cached>)[CACHE];
  if (c !== undefined) return c;
  // A structurally built Ring (not from makeRing): cache on the side.
  let side = sideCaches.get(ring);
  if (side === undefined) {
    side = { walks: undefined, prefs: [], healthy: [] };
    sideCaches.set(ring, side);
  }
  return side;
};
const sideCaches = new WeakMap<Ring, RingCache>();

/**
 * For every partition, all distinct owners in the order a clockwise walk from
 * it meets them. O(Q·S log S) once per ring: each node's next occurrence is
 * found by one backward sweep, then the S candidates are sorted by distance.
 */
const computeWalks = (ring: Ring): readonly (readonly NodeId[])[] => {
  const q = ring.partitionCount;
  const nodes = ring.nodes;
  const s = nodes.length;
  const index = new Map<NodeId, number>(nodes.map((n, i) => [n, i]));
  const own = Int32Array.from(ring.owners, (o) => index.get(o)!);
  // next[i] = smallest position ≥ the sweep cursor (cyclically) owned by node i.
  const next = new Int32Array(s).fill(-1);
  // Prime with one backward pass so the wrap-around is seen.
  for (let p = q - 1; p >= 0; p--) next[own[p]!] = p + q;
  const walks: (readonly NodeId[])[] = new Array(q);
  const order = Array.from({ length: s }, (_, i) => i);
  for (let p = q - 1; p >= 0; p--) {
    next[own[p]!] = p;
    order.sort((a, b) => next[a]! - next[b]!);
    walks[p] = Object.freeze(order.map((i) => nodes[i]!));
  }
  return Object.freeze(walks);
};

/** All distinct owners of the ring, in the order a clockwise walk from `p` meets them. Cached. */
export const walkFrom = (ring: Ring, p: PartitionId): readonly NodeId[] => {
  const c = cacheOf(ring);
  if (c.walks === undefined) c.walks = computeWalks(ring);
  return c.walks[p]!;
};

/**
 * The preference list of partition p: the first n distinct owners met walking
 * clockwise from p (fewer when the ring has fewer owners). Computed for all
 * partitions on first use for this n, then returned from the cache.
 */
export const preferenceList = (ring: Ring, p: PartitionId, n: number): readonly NodeId[] => {
  const c = cacheOf(ring);
  const lists = c.prefs[n];
  if (lists !== undefined) return lists[p]!;
  if (!Number.isInteger(n) || n < 1) throw new RangeError('ring: n must be a positive integer');
  // Every n ≥ S gives the same lists (the whole walk): build them once, under S.
  const k = Math.min(n, ring.nodes.length);
  const walks = c.walks ?? (c.walks = computeWalks(ring));
  const built = c.prefs[k] ?? Object.freeze(walks.map((w) => (w.length <= k ? w : Object.freeze(w.slice(0, k)))));
  c.prefs[k] = built;
  if (n <= 64) c.prefs[n] = built; // small n only, so a huge n cannot make the array sparse
  return built[p]!;
};

/**
 * The sloppy-quorum list of partition p: the first n nodes of the walk that
 * are up. A node past the first n of the walk is a fallback and names, in
 * walk order, the down primary it stands in for, so that what it stores
 * becomes a hint for that primary.
 */
export const sloppyPreferenceList = (
  ring: Ring,
  p: PartitionId,
  n: number,
  isUp: (node: NodeId) => boolean,
): readonly Replica[] => {
  const list = preferenceList(ring, p, n); // validates n
  let allUp = true;
  for (let i = 0; i < list.length && allUp; i++) allUp = isUp(list[i]!);
  if (allUp) {
    // The common case allocates nothing: a cached frozen list of replicas.
    const c = cacheOf(ring);
    const k = list.length;
    let lists = c.healthy[k];
    if (lists === undefined) {
      lists = Object.freeze(
        Array.from({ length: ring.partitionCount }, (_, q) =>
          Object.freeze(preferenceList(ring, q, k).map((node) => Object.freeze({ node }))),
        ),
      );
      c.healthy[k] = lists;
    }
    return lists[p]!;
  }
  const walk = walkFrom(ring, p);
  const primaries = list.length;
  const down: NodeId[] = [];
  const out: Replica[] = [];
  for (let i = 0; i < primaries; i++) {
    const node = walk[i]!;
    if (isUp(node)) out.push({ node });
    else down.push(node);
  }
  let stand = 0;
  for (let i = primaries; i < walk.length && stand < down.length; i++) {
    const node = walk[i]!;
    if (isUp(node)) out.push({ node, hintFor: down[stand++]! });
  }
  return out;
};

/**
 * How many partitions' preference lists (length n) include each node: the
 * share of replicas a node stores. Nodes that own nothing are absent.
 */
export const replicaLoad = (ring: Ring, n: number): ReadonlyMap<NodeId, number> => {
  const m = new Map<NodeId, number>(ring.nodes.map((x) => [x, 0]));
  for (let p = 0; p < ring.partitionCount; p++) {
    for (const x of preferenceList(ring, p, n)) m.set(x, m.get(x)! + 1);
  }
  return m;
};

/**
 * Windows of n consecutive partitions (cyclically, one per starting
 * partition) whose owners repeat a node: Riak's "tail violations". In such a
 * window the preference list has to reach past the window's end to find n
 * distinct nodes. 0 for n = 1.
 */
export const tailViolations = (ring: Ring, n: number): number => countViolations(ring.owners, n);

/** `tailViolations` over a bare ownership array (any comparable owner values). */
export const countViolations = <T>(owners: readonly T[], n: number): number => {
  const q = owners.length;
  const w = Math.min(n, q);
  let count = 0;
  for (let s = 0; s < q; s++) {
    let bad = false;
    for (let i = 0; i < w && !bad; i++) {
      const a = owners[(s + i) % q];
      for (let j = i + 1; j < w; j++) {
        if (owners[(s + j) % q] === a) {
          bad = true;
          break;
        }
      }
    }
    if (bad) count++;
  }
  return count;
};

/**
 * Anti-entropy Merkle trees, one per partition.
 *
 * Model. A partition's key-hash space is cut into 2^leafBits fixed segments
 * (leaves) by the key-hash bits just below the partition bits, so a segment
 * never changes when keys come and go and the tree never needs a rebuild. A
 * leaf's digest is the XOR of the 64-bit item hashes h(key, version digest) of
 * the items in its segment; an inner node's digest is the XOR of its children.
 * Digests are 64-bit values kept as (hi, lo) u32 pairs in typed arrays: the
 * shell hashes bytes (native xxh3-64), the core only ever sees numbers.
 *
 * Shape. The default is 1024 leaves under a tree of fan-out 32, i.e. 32×32
 * with depth 2. A comparison across the network costs one round trip per
 * level, and one level's answer for one node is 32 digests = 256 bytes, one
 * small frame; a binary tree of the same size would need 10 round trips for
 * 21 digests. An update touches depth + 1 = 3 nodes. Both are parameters.
 *
 * Why XOR for inner nodes too. With XOR leaves, XOR-combined inner nodes let
 * an update XOR one delta into the leaf and each ancestor (O(depth), no
 * hashing in the core, no allocation), and every node equals the XOR of the
 * item hashes below it, independent of the order of updates. The price: XOR
 * is linear, so a set of items chosen by an adversary who knows h can cancel
 * out; against accidental divergence a differing node escapes detection only
 * with probability ~2^-64 per node, because the item hashes are already
 * strong 64-bit hashes. Two equal items in one segment also cancel; a replica
 * holds one item per key, so that happens only for a duplicate key.
 *
 * Mutation. A tree is the one mutable value of this module: its typed arrays
 * are updated in place by `toggle`, `replace` and `toggleBatch`, because
 * copying 2×1057 words on every write would dominate the write path. Every
 * other function is pure and leaves its inputs untouched; `clone` makes a copy
 * when a snapshot is needed (e.g. to compare while writes continue).
 *
 * Exchange. The comparison is data, so it can run over the network: the
 * initiator sends a `NodeQuery` (a level and node indices), the peer replies
 * with `answer` (the digests), the initiator feeds the reply to `step`, which
 * returns the next query (children of the nodes that differ) or, at the leaf
 * level, the differing segments. Both sides then list their (key, item hash)
 * pairs in those segments and `diffItems` names the keys that differ.
 *
 * Laws (tested in test/core/merkle.test.ts):
 *   toggle(toggle(t, s, h), s, h) = t                      (involution)
 *   any order of toggles/replaces = fromItems(final items)  (incremental = rebuilt)
 *   compare(a, b).segments = { s | leaf_a(s) ≠ leaf_b(s) }
 *   diffItems(A_S, B_S) = (A Δ B) restricted to segments S
 *   compare(a, b).visited ≤ 1 + d × depth × fanout          (d = differing leaves)
 *   deserialize(serialize(t)) = right(t)
 */
import * as E from 'fp-ts/lib/Either.js';

// ---------------------------------------------------------------------------
// model

export interface MerkleShape {
  /** log2 of the number of leaves (segments). */
  readonly leafBits: number;
  /** log2 of an inner node's number of children. */
  readonly fanoutBits: number;
}

/** 1024 leaves, fan-out 32: a 32×32 tree of depth 2. */
export const defaultShape: MerkleShape = { leafBits: 10, fanoutBits: 5 };

export const maxLeafBits = 24;
export const maxFanoutBits = 8;

export interface MerkleTree {
  readonly shape: MerkleShape;
  /** Number of levels below the root; leaves are at level `depth`. */
  readonly depth: number;
  /** Level ℓ occupies [levelStart[ℓ], levelStart[ℓ+1]) of `hi`/`lo`. */
  readonly levelStart: Uint32Array;
  /** A leaf s has ancestor s >>> shift[ℓ] on level ℓ. */
  readonly shift: Uint8Array;
  /** Node digests, high and low 32 bits; mutated in place by updates. */
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
}

/** A 64-bit digest as two u32 halves. */
export interface Digest {
  readonly hi: number;
  readonly lo: number;
}

/** Asks a peer for the digests of some nodes of one level (ascending indices). */
export interface NodeQuery {
  readonly level: number;
  readonly indices: readonly number[];
}

/** A peer's digests for a `NodeQuery`, in query order. */
export interface NodeDigests {
  readonly level: number;
  readonly indices: readonly number[];
  readonly hi: readonly number[];
  readonly lo: readonly number[];
}

/** The outcome of one comparison step: ask for more, or the differing segments. */
export type DiffStep =
  | { readonly _tag: 'Query'; readonly query: NodeQuery; readonly visited: number }
  | { readonly _tag: 'Done'; readonly segments: readonly number[]; readonly visited: number };

/** One item of a segment as a replica lists it: the key and its item hash h(key, version digest). */
export interface SegmentItem {
  readonly key: string;
  readonly hi: number;
  readonly lo: number;
}

/** What two replicas' item lists disagree on. */
export interface ItemDiff {
  /** Items the local replica has and the remote lacks (or holds at another version). */
  readonly onlyLocal: readonly SegmentItem[];
  readonly onlyRemote: readonly SegmentItem[];
  /** Keys of either list, sorted, each once: the keys to exchange. */
  readonly keys: readonly string[];
}

// ---------------------------------------------------------------------------
// shape arithmetic

/** A reason the shape is unusable, or null. */
export const invalidShape = (shape: MerkleShape): string | null => {
  if (!Number.isInteger(shape.leafBits) || shape.leafBits < 0 || shape.leafBits > maxLeafBits) {
    return `leafBits must be an integer in 0..${maxLeafBits}`;
  }
  if (!Number.isInteger(shape.fanoutBits) || shape.fanoutBits < 1 || shape.fanoutBits > maxFanoutBits) {
    return `fanoutBits must be an integer in 1..${maxFanoutBits}`;
  }
  return null;
};

export const depthOf = (shape: MerkleShape): number => Math.ceil(shape.leafBits / shape.fanoutBits);

/** log2 of the number of nodes on `level` (the top level may be narrower than the fan-out). */
const levelBits = (shape: MerkleShape, depth: number, level: number): number =>
  Math.max(0, shape.leafBits - (depth - level) * shape.fanoutBits);

export const levelSize = (tree: MerkleTree, level: number): number =>
  tree.levelStart[level + 1]! - tree.levelStart[level]!;

export const leafCount = (shape: MerkleShape): number => 2 ** shape.leafBits;

export const sameShape = (a: MerkleShape, b: MerkleShape): boolean =>
  a.leafBits === b.leafBits && a.fanoutBits === b.fanoutBits;

/**
 * The segment of a key: the `leafBits` bits of its 64-bit key hash that follow
 * the top `qBits` partition bits. Requires qBits + leafBits ≤ 64.
 */
export const segmentOf = (shape: MerkleShape, qBits: number, keyHashHi: number, keyHashLo: number): number => {
  const width = shape.leafBits;
  if (width === 0) return 0;
  let top: number;
  if (qBits === 0) top = keyHashHi;
  else if (qBits < 32) top = (keyHashHi << qBits) | (keyHashLo >>> (32 - qBits));
  else top = keyHashLo << (qBits - 32);
  return top >>> (32 - width);
};

// ---------------------------------------------------------------------------
// constructors

/** An empty tree (every digest 0, the XOR of no items). Throws on a bad shape: shapes are configuration. */
export const empty = (shape: MerkleShape = defaultShape): MerkleTree => {
  const bad = invalidShape(shape);
  if (bad !== null) throw new RangeError(`merkle: ${bad}`);
  const depth = depthOf(shape);
  const levelStart = new Uint32Array(depth + 2);
  const shift = new Uint8Array(depth + 1);
  for (let level = 0; level <= depth; level++) {
    const bits = levelBits(shape, depth, level);
    levelStart[level + 1] = levelStart[level]! + 2 ** bits;
    shift[level] = shape.leafBits - bits;
  }
  const total = levelStart[depth + 1]!;
  return { shape, depth, levelStart, shift, hi: new Uint32Array(total), lo: new Uint32Array(total) };
};

export const clone = (tree: MerkleTree): MerkleTree => ({
  ...tree,
  hi: tree.hi.slice(),
  lo: tree.lo.slice(),
});

/** Recomputes every inner level from the leaves (children XOR), bottom up. */
const rebuildInner = (tree: MerkleTree): void => {
  const { hi, lo, levelStart } = tree;
  for (let level = tree.depth - 1; level >= 0; level--) {
    const start = levelStart[level]!;
    const childStart = levelStart[level + 1]!;
    const n = levelStart[level + 1]! - start;
    const per = (levelStart[level + 2]! - childStart) / n;
    for (let i = 0; i < n; i++) {
      let h = 0;
      let l = 0;
      const c0 = childStart + i * per;
      for (let c = c0; c < c0 + per; c++) {
        h ^= hi[c]!;
        l ^= lo[c]!;
      }
      hi[start + i] = h;
      lo[start + i] = l;
    }
  }
};

/** A tree built from scratch from (segment, item hash) triples. */
export const fromItems = (
  shape: MerkleShape,
  items: Iterable<{ readonly segment: number; readonly hi: number; readonly lo: number }>,
): MerkleTree => {
  const tree = empty(shape);
  const leaves = tree.levelStart[tree.depth]!;
  for (const it of items) {
    const i = leaves + it.segment;
    tree.hi[i] = tree.hi[i]! ^ it.hi;
    tree.lo[i] = tree.lo[i]! ^ it.lo;
  }
  rebuildInner(tree);
  return tree;
};

// ---------------------------------------------------------------------------
// updates (in place, O(depth), no allocation)

/**
 * XORs an item hash into a segment: adds an item that is absent, removes one
 * that is present. An involution.
 */
export const toggle = (tree: MerkleTree, segment: number, itemHi: number, itemLo: number): void => {
  const { hi, lo, levelStart, shift } = tree;
  for (let level = tree.depth; level >= 0; level--) {
    const i = levelStart[level]! + (segment >>> shift[level]!);
    hi[i] = hi[i]! ^ itemHi;
    lo[i] = lo[i]! ^ itemLo;
  }
};

/** An item changed version: removes the old item hash and adds the new one in one pass. */
export const replace = (
  tree: MerkleTree,
  segment: number,
  oldHi: number,
  oldLo: number,
  newHi: number,
  newLo: number,
): void => toggle(tree, segment, oldHi ^ newHi, oldLo ^ newLo);

/**
 * Toggles many items at once. `words` holds one little-endian u64 per item as
 * (lo, hi) u32 pairs, the layout of a Uint32Array view over the native batch
 * hasher's output on a little-endian host.
 */
export const toggleBatch = (tree: MerkleTree, segments: ArrayLike<number>, words: Uint32Array): void => {
  for (let k = 0; k < segments.length; k++) toggle(tree, segments[k]!, words[2 * k + 1]!, words[2 * k]!);
};

// ---------------------------------------------------------------------------
// reading

export const nodeDigest = (tree: MerkleTree, level: number, index: number): Digest => {
  const i = tree.levelStart[level]! + index;
  return { hi: tree.hi[i]!, lo: tree.lo[i]! };
};

export const root = (tree: MerkleTree): Digest => nodeDigest(tree, 0, 0);

export const leaf = (tree: MerkleTree, segment: number): Digest => nodeDigest(tree, tree.depth, segment);

export const equals = (a: MerkleTree, b: MerkleTree): boolean => {
  if (!sameShape(a.shape, b.shape)) return false;
  for (let i = 0; i < a.hi.length; i++) if (a.hi[i] !== b.hi[i] || a.lo[i] !== b.lo[i]) return false;
  return true;
};

// ---------------------------------------------------------------------------
// comparison as an exchange of data

/** The first query of a comparison: the root. */
export const rootQuery: NodeQuery = { level: 0, indices: [0] };

/** The query for all children of one node (e.g. to ask a peer for them directly). */
export const childrenOf = (tree: MerkleTree, level: number, index: number): NodeQuery => {
  const per = levelSize(tree, level + 1) / levelSize(tree, level);
  const indices: number[] = [];
  for (let c = index * per; c < (index + 1) * per; c++) indices.push(c);
  return { level: level + 1, indices };
};

/** A reason a peer's query cannot be answered from this tree, or null. */
export const invalidQuery = (tree: MerkleTree, q: NodeQuery): string | null => {
  if (!Number.isInteger(q.level) || q.level < 0 || q.level > tree.depth) return `level ${q.level} not in 0..${tree.depth}`;
  const size = levelSize(tree, q.level);
  if (q.indices.length > size) return `${q.indices.length} indices > level size ${size}`;
  let prev = -1;
  for (const i of q.indices) {
    if (!Number.isInteger(i) || i < 0 || i >= size) return `index ${i} not in 0..${size - 1}`;
    if (i <= prev) return 'indices not strictly ascending';
    prev = i;
  }
  return null;
};

/** The digests a peer asked for (the remote side of the exchange). */
export const answer = (tree: MerkleTree, q: NodeQuery): E.Either<string, NodeDigests> => {
  const bad = invalidQuery(tree, q);
  if (bad !== null) return E.left(bad);
  const start = tree.levelStart[q.level]!;
  const hi = q.indices.map((i) => tree.hi[start + i]!);
  const lo = q.indices.map((i) => tree.lo[start + i]!);
  return E.right({ level: q.level, indices: q.indices, hi, lo });
};

/**
 * Compares a peer's digests with the local ones (the initiating side).
 * Nodes that differ are walked further; equal subtrees are never visited.
 * `visited` counts the digests compared in this step.
 */
export const step = (tree: MerkleTree, remote: NodeDigests): E.Either<string, DiffStep> => {
  const bad = invalidQuery(tree, remote);
  if (bad !== null) return E.left(bad);
  const n = remote.indices.length;
  if (remote.hi.length !== n || remote.lo.length !== n) return E.left('digest count differs from index count');
  const start = tree.levelStart[remote.level]!;
  const differing: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = remote.indices[k]!;
    if (tree.hi[start + i] !== remote.hi[k] || tree.lo[start + i] !== remote.lo[k]) differing.push(i);
  }
  if (remote.level === tree.depth || differing.length === 0) {
    return E.right({ _tag: 'Done', segments: differing, visited: n });
  }
  const per = levelSize(tree, remote.level + 1) / levelSize(tree, remote.level);
  const indices: number[] = [];
  for (const i of differing) for (let c = i * per; c < (i + 1) * per; c++) indices.push(c);
  return E.right({ _tag: 'Query', query: { level: remote.level + 1, indices }, visited: n });
};

/** Runs the whole exchange between two local trees (same shape): the differing segments and the nodes visited. */
export const compare = (
  local: MerkleTree,
  remote: MerkleTree,
): { readonly segments: readonly number[]; readonly visited: number } => {
  if (!sameShape(local.shape, remote.shape)) throw new RangeError('merkle: compare needs trees of one shape');
  let query = rootQuery;
  let visited = 0;
  for (;;) {
    const reply = answer(remote, query);
    if (E.isLeft(reply)) throw new Error(`merkle: ${reply.left}`);
    const next = step(local, reply.right);
    if (E.isLeft(next)) throw new Error(`merkle: ${next.left}`);
    visited += next.right.visited;
    if (next.right._tag === 'Done') return { segments: next.right.segments, visited };
    query = next.right.query;
  }
};

/**
 * The symmetric difference of two replicas' (key, item hash) lists for the
 * same segments. An item is identified by its key and its item hash, so a key
 * held at two versions shows up on both sides and once in `keys`.
 */
export const diffItems = (local: readonly SegmentItem[], remote: readonly SegmentItem[]): ItemDiff => {
  const id = (it: SegmentItem): string => `${it.hi >>> 0}:${it.lo >>> 0}:${it.key}`;
  const remoteIds = new Set<string>();
  for (const it of remote) remoteIds.add(id(it));
  const localIds = new Set<string>();
  for (const it of local) localIds.add(id(it));
  const onlyLocal = local.filter((it) => !remoteIds.has(id(it)));
  const onlyRemote = remote.filter((it) => !localIds.has(id(it)));
  const keys = [...new Set([...onlyLocal, ...onlyRemote].map((it) => it.key))].sort();
  return { onlyLocal, onlyRemote, keys };
};

// ---------------------------------------------------------------------------
// persistence

const magic = 0x544d4b52; // "RKMT" read as a little-endian u32
const formatVersion = 1;
const headerBytes = 16;

/**
 * Layout (little-endian): "RKMT", format version u8, leafBits u8, fanoutBits
 * u8, 0 u8, root hi u32, root lo u32, then (hi u32, lo u32) per leaf. Inner
 * nodes are recomputed on load; the stored root then catches a leaf that was
 * damaged (a single flipped word always changes the root).
 */
export const serialize = (tree: MerkleTree): Uint8Array => {
  const leaves = leafCount(tree.shape);
  const out = new Uint8Array(headerBytes + leaves * 8);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, true);
  view.setUint8(4, formatVersion);
  view.setUint8(5, tree.shape.leafBits);
  view.setUint8(6, tree.shape.fanoutBits);
  view.setUint32(8, tree.hi[0]!, true);
  view.setUint32(12, tree.lo[0]!, true);
  const start = tree.levelStart[tree.depth]!;
  for (let s = 0; s < leaves; s++) {
    view.setUint32(headerBytes + s * 8, tree.hi[start + s]!, true);
    view.setUint32(headerBytes + s * 8 + 4, tree.lo[start + s]!, true);
  }
  return out;
};

export const deserialize = (bytes: Uint8Array): E.Either<string, MerkleTree> => {
  if (bytes.length < headerBytes) return E.left(`${bytes.length} bytes < header size ${headerBytes}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== magic) return E.left('bad magic');
  if (view.getUint8(4) !== formatVersion) return E.left(`format version ${view.getUint8(4)} != ${formatVersion}`);
  const shape: MerkleShape = { leafBits: view.getUint8(5), fanoutBits: view.getUint8(6) };
  const bad = invalidShape(shape);
  if (bad !== null) return E.left(bad);
  const leaves = leafCount(shape);
  if (bytes.length !== headerBytes + leaves * 8) {
    return E.left(`${bytes.length} bytes != ${headerBytes + leaves * 8} for ${leaves} leaves`);
  }
  const tree = empty(shape);
  const start = tree.levelStart[tree.depth]!;
  for (let s = 0; s < leaves; s++) {
    tree.hi[start + s] = view.getUint32(headerBytes + s * 8, true);
    tree.lo[start + s] = view.getUint32(headerBytes + s * 8 + 4, true);
  }
  rebuildInner(tree);
  if (tree.hi[0] !== view.getUint32(8, true) || tree.lo[0] !== view.getUint32(12, true)) {
    return E.left('root does not match the leaves');
  }
  return E.right(tree);
};

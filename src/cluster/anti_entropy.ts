/**
 * Active anti-entropy (issue 7): a live Merkle tree per partition, exchanges
 * with the other primaries that repair whatever differs, and the reaping of
 * tombstones once every replica provably holds them.
 *
 * Trees. Every partition has a tree of src/core/merkle.ts from start: built
 * by one fold of the partitions that hold data, empty for the others, and
 * then kept current by the Replica's observer on every put, merge, repair
 * and removal. An item is h(key, stored object bytes); the stored encoding is
 * canonical (equal clocks encode equally), so equal objects hash equally on
 * every replica and the trees of two synced replicas are equal.
 *
 * Exchange (this node A with a peer B, one partition): compare roots, walk
 * only differing subtrees (AAE_TREE, one round trip per level), list both
 * sides' (key, item hash) pairs in the differing segments (AAE_SEGMENTS),
 * fetch B's objects of the keys that differ (AAE_FETCH) and merge them into
 * A with the replica path's merge, then send A's merged objects to B where
 * B's differ (REPLICA_PUT_BATCH, which merges on B). Both end with the merged
 * object. Fetches and pushes pass a token bucket (keys per second) and every
 * batch first yields to the event loop, so foreground requests go first.
 *
 * Reaping: see src/core/aae.ts for the rule and docs/cluster.md.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as A from '../core/aae.js';
import { decodeObject, objectView } from '../core/context_codec.js';
import * as D from '../core/dvvset.js';
import * as M from '../core/merkle.js';
import type { NodeId } from '../core/types.js';
import { KvError } from '../errors.js';
import { addon, crc32c } from '../native/addon.js';
import { isTombstone, TAG_TOMBSTONE, type Replica } from '../node/replica.js';
import type { NodeStats } from '../node/stats.js';
import type {
  AaeCopyState,
  AaeItem,
  PeerReply,
  PeerRequest,
} from '../../protocol/peer_messages.js';
import type { AaeExchangeReply } from '../../protocol/aae_admin.js';
import type { Clock } from './effects.js';

// ---------------------------------------------------------------- configuration

export interface AaeConfig {
  /** Run periodic exchanges (trees are kept live either way, and exchanges can be triggered). */
  readonly enabled: boolean;
  /** One exchange (one partition with one peer) every this many ms. */
  readonly intervalMs: number;
  /** Keys fetched or pushed per second, at most (a token bucket, burst = one batch). */
  readonly keysPerSec: number;
  /** Merkle shape: log2 leaves, log2 fan-out (must be equal on every node). */
  readonly leafBits: number;
  readonly fanoutBits: number;
  /** Keys per AAE_FETCH, REPLICA_PUT_BATCH, AAE_TOMB_CHECK and AAE_REAP. */
  readonly batchKeys: number;
  /** Items one AAE_SEGMENTS reply should stay under (sets how many segments one request asks for). */
  readonly maxSegmentItems: number;
  /** Reap tombstones every replica holds (after an exchange of their partition). */
  readonly reap: boolean;
  /**
   * A tombstone is a reaping candidate only once it has been stored here
   * unchanged this long: a message decided before the delete (a read
   * repair computed from older replies, a write's copy, an exchange's fetch)
   * can still be in flight, or held by a paused process, after every member
   * confirmed; arriving after the reap it would store the deleted value as
   * live. This bounds those messages' age; it never reaps on its own.
   */
  readonly reapAfterMs: number;
}

export const defaultAaeConfig: AaeConfig = {
  enabled: true,
  intervalMs: 10_000,
  keysPerSec: 1_000,
  leafBits: 10,
  fanoutBits: 5,
  batchKeys: 256,
  maxSegmentItems: 8192,
  reap: true,
  reapAfterMs: 60_000,
};

/** Why an anti-entropy configuration is unusable, or null. */
export const invalidAaeConfig = (c: AaeConfig): string | null => {
  const shape = M.invalidShape({ leafBits: c.leafBits, fanoutBits: c.fanoutBits });
  if (shape !== null) return shape;
  if (!(c.intervalMs > 0)) return 'aae intervalMs must be positive';
  if (!(c.keysPerSec > 0)) return 'aae keysPerSec must be positive';
  if (!Number.isInteger(c.batchKeys) || c.batchKeys < 1 || c.batchKeys > 65535) return 'aae batchKeys must be an integer in 1..65535';
  if (!Number.isInteger(c.maxSegmentItems) || c.maxSegmentItems < 1) return 'aae maxSegmentItems must be a positive integer';
  if (!(c.reapAfterMs >= 0)) return 'aae reapAfterMs must be >= 0';
  return null;
};

// ---------------------------------------------------------------- item hashing

const scratch = Buffer.alloc(24);
const pair = scratch.subarray(0, 16);

/** A key's place and item hash in its partition's tree. */
export interface ItemHash {
  readonly segment: number;
  readonly hi: number;
  readonly lo: number;
}

/**
 * h(key, object) = xxh3-64(xxh3-64(key) ‖ xxh3-64(object)), and the key's
 * segment (the key-hash bits below the partition bits). Hashing the pair
 * (not XOR-ing the two hashes) keeps two keys that swapped objects apart.
 */
export const itemHash = (shape: M.MerkleShape, qBits: number, key: Uint8Array, object: Uint8Array): ItemHash => {
  addon.hashInto(key, scratch, 0);
  addon.hashInto(object, scratch, 8);
  addon.hashInto(pair, scratch, 16);
  const segment = M.segmentOf(shape, qBits, scratch.readUInt32LE(4), scratch.readUInt32LE(0));
  return { segment, hi: scratch.readUInt32LE(20), lo: scratch.readUInt32LE(16) };
};

// A write's tree update hashes the key once and both versions' items in two
// native calls (the key and the objects in one batch, then the two pairs),
// where two itemHash calls cost six: a native call's fixed cost (~200 ns)
// was most of the update, which every replica pays on every write. Inputs
// are copied into `batchIn`; a longer key and objects take itemHash's path.
const BATCH_IN_BYTES = 4096;
const batchIn = Buffer.alloc(BATCH_IN_BYTES);
const batchOffsets = new Uint32Array(4);
// Hashes are moved and read as u32 words (Buffer.copy costs ~120 ns a call);
// the little-endian layout is toggleBatch's assumption too.
const batchWords = new Uint32Array(6);
const batchOut = Buffer.from(batchWords.buffer);
const pairWords = new Uint32Array(8);
const pairIn = Buffer.from(pairWords.buffer);
const pairOffsets = Uint32Array.of(0, 16, 32);
const pairOutWords = new Uint32Array(4);
const pairOut = Buffer.from(pairOutWords.buffer);
const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The XOR of a key's item hashes for two versions (what a tree update toggles
 * into the key's segment), as `itemHash(before) ^ itemHash(after)`; null when
 * the inputs do not fit the batch buffer or the host is big-endian (the
 * caller then uses itemHash).
 */
export const itemHashChange = (
  shape: M.MerkleShape,
  qBits: number,
  key: Uint8Array,
  before: Uint8Array,
  after: Uint8Array,
): ItemHash | null => {
  const total = key.length + before.length + after.length;
  if (total > BATCH_IN_BYTES || !littleEndian) return null;
  batchIn.set(key, 0);
  batchIn.set(before, key.length);
  batchIn.set(after, key.length + before.length);
  batchOffsets[0] = 0;
  batchOffsets[1] = key.length;
  batchOffsets[2] = key.length + before.length;
  batchOffsets[3] = total;
  addon.hashBatch(batchIn, batchOffsets, batchOut);
  const w = batchWords;
  const p = pairWords;
  // pairIn = h(key) ‖ h(before), then h(key) ‖ h(after)
  p[0] = w[0]!;
  p[1] = w[1]!;
  p[2] = w[2]!;
  p[3] = w[3]!;
  p[4] = w[0]!;
  p[5] = w[1]!;
  p[6] = w[4]!;
  p[7] = w[5]!;
  addon.hashBatch(pairIn, pairOffsets, pairOut);
  const o = pairOutWords;
  return { segment: M.segmentOf(shape, qBits, w[1]!, w[0]!), hi: (o[1]! ^ o[3]!) >>> 0, lo: (o[0]! ^ o[2]!) >>> 0 };
};

/** True when the stored object's siblings are all tombstones (a deleted key). */
export const isDeletedBytes = (bytes: Uint8Array): boolean => {
  // A tombstone-only object ends with a tombstone byte: most live objects are rejected without decoding.
  if (bytes.length === 0 || bytes[bytes.length - 1] !== TAG_TOMBSTONE) return false;
  const v = objectView(bytes);
  if (!v.ok || v.value.values.length === 0) return false;
  for (const x of v.value.values) if (!isTombstone(x)) return false;
  return true;
};

const SAVE_MAGIC = 0x45414b52; // "RKAE" read as a little-endian u32

/** Keys an exchange handles between two turns of the event loop (foreground requests queued meanwhile go first). */
const YIELD_EVERY = 32;

const keyString = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
const keyBytes = (s: string): Buffer => Buffer.from(s, 'latin1');

// ---------------------------------------------------------------- the shell

export interface AntiEntropyDeps {
  readonly self: NodeId;
  readonly replica: Replica;
  readonly config: AaeConfig;
  readonly clock: Clock;
  readonly stats: NodeStats;
  readonly peerTimeoutMs: number;
  readonly request: (to: NodeId, request: PeerRequest, timeoutMs: number) => Promise<PeerReply>;
  /** The partition's N primaries in this node's current ring. */
  readonly primariesOf: (partition: number) => readonly NodeId[];
  /** Every member of the cluster that may hold data (not removed), this node included. */
  readonly members: () => readonly NodeId[];
  readonly isUp: (node: NodeId) => boolean;
  /** A hint for (partition, key) is pending on this node (its copy is still to travel). */
  readonly hintPending: (partition: number, key: Uint8Array) => boolean;
  readonly stopped: () => boolean;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/** What one exchange did; the AAE_EXCHANGE reply to an operator-triggered one carries exactly this. */
export type ExchangeResult = AaeExchangeReply;

/** Per partition, what `ringkv status` shows. */
export interface PartitionAaeStatus {
  readonly partition: number;
  /** Clock time of the last finished exchange (0: never). */
  readonly lastExchangeMs: number;
  readonly lastPeer: NodeId;
  /** Keys repaired by the last exchange, and by all since start. */
  readonly lastKeysRepaired: number;
  readonly keysRepaired: number;
  readonly tombstones: number;
}

export class AntiEntropy {
  readonly shape: M.MerkleShape;
  private readonly trees: (M.MerkleTree | undefined)[];
  /** Keys whose stored object is tombstones only, per partition (latin1 strings), with when it was last written: the reaping candidates. */
  private readonly tombstones: Map<string, number>[];
  /**
   * The keys of each segment, per partition (latin1 strings), kept with the
   * trees: listing a differing segment then reads only its own keys instead
   * of folding the partition (at 1M keys a fold per side made a 10-key
   * exchange take seconds). About 50 bytes per key.
   */
  private readonly segmentKeys: Map<number, string[]>[];
  private readonly status = new Map<number, { lastExchangeMs: number; lastPeer: NodeId; lastKeysRepaired: number; keysRepaired: number }>();
  private bucket: A.Bucket;
  private ready = false;
  /** One exchange at a time; operator-triggered ones queue behind. */
  private running: Promise<unknown> = Promise.resolve();
  private nextPartition = 0;
  private nextPeer = 0;

  constructor(private readonly d: AntiEntropyDeps) {
    const why = invalidAaeConfig(d.config);
    if (why !== null) throw new KvError('KV_BAD_ARGUMENT', why);
    this.shape = { leafBits: d.config.leafBits, fanoutBits: d.config.fanoutBits };
    const q = 2 ** d.replica.partitionBits;
    this.trees = new Array<M.MerkleTree | undefined>(q);
    this.tombstones = Array.from({ length: q }, () => new Map<string, number>());
    this.segmentKeys = Array.from({ length: q }, () => new Map<number, string[]>());
    this.bucket = A.bucket(d.config.keysPerSec, d.config.batchKeys, d.clock.now());
  }

  /** Changes the rate limit from now on (operators; the bench compares rates in one run). */
  setKeysPerSec(keysPerSec: number): void {
    if (!(keysPerSec > 0)) throw new KvError('KV_BAD_ARGUMENT', 'keysPerSec must be positive');
    this.bucket = A.bucket(keysPerSec, this.d.config.batchKeys, this.d.clock.now());
  }

  // ------------------------------------------------------------ trees

  /**
   * Builds every tree: one fold per partition that holds data. Must run
   * before the node takes writes (the observer is installed here and a fold
   * racing a write could count it twice).
   */
  async start(saved?: Uint8Array): Promise<void> {
    const held = new Set(await this.d.replica.backend.partitions());
    const restored = saved === undefined ? undefined : await this.restore(saved, held);
    if (saved !== undefined && restored === undefined) this.d.log('warn', 'anti-entropy: the saved trees do not match the data; rebuilding them');
    for (let p = 0; p < this.trees.length; p++) {
      const r = restored?.[p];
      if (r !== undefined) {
        this.trees[p] = r.tree;
        for (const k of r.tombstones) this.tombstones[p]!.set(k, this.d.clock.now());
        if (held.has(p)) await this.indexKeys(p);
      } else {
        this.trees[p] = held.has(p) ? await this.build(p) : M.empty(this.shape);
      }
    }
    this.d.replica.observer = (p, key, before, after) => this.observe(p, key, before, after);
    this.ready = true;
  }

  /** The segment index of `p` from a keys-only fold (no value is read: the tree came from a save). */
  private async indexKeys(p: number): Promise<void> {
    const index = this.segmentKeys[p]!;
    index.clear();
    const qBits = this.d.replica.partitionBits;
    const store = await this.d.replica.store(p);
    await store.fold(
      (key) => {
        addon.hashInto(key, scratch, 0);
        const segment = M.segmentOf(this.shape, qBits, scratch.readUInt32LE(4), scratch.readUInt32LE(0));
        const list = index.get(segment);
        if (list === undefined) index.set(segment, [keyString(key)]);
        else list.push(keyString(key));
      },
      { keysOnly: true },
    );
  }

  /**
   * Every tree and tombstone list, for a clean shutdown: call it only once
   * the replica is closed (no write can follow; it reads no storage), and pass the bytes to
   * `start` at the next start, once (a crash in between must rebuild).
   * Layout: "RKAE" u32 LE, version u8, leafBits u8, fanoutBits u8, qBits u8,
   * crc32c u32 LE of the rest; then per partition: key count u32 LE,
   * tree length u32 LE, merkle.serialize bytes,
   * tombstone count u32 LE, tombstone keys (u16 LE length + bytes).
   */
  persist(): Uint8Array {
    const parts: Buffer[] = [];
    const u32 = (v: number): Buffer => {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32LE(v, 0);
      return b;
    };
    for (let p = 0; p < this.trees.length; p++) {
      const tree = this.tree(p);
      parts.push(u32(this.keyCount(p)));
      const bytes = M.serialize(tree);
      parts.push(u32(bytes.length), Buffer.from(bytes));
      const tombs = [...this.tombstones[p]!.keys()];
      parts.push(u32(tombs.length));
      for (const k of tombs) {
        const kb = keyBytes(k);
        const len = Buffer.allocUnsafe(2);
        len.writeUInt16LE(kb.length, 0);
        parts.push(len, kb);
      }
    }
    const body = Buffer.concat(parts);
    const header = Buffer.alloc(12);
    header.writeUInt32LE(SAVE_MAGIC, 0);
    header.writeUInt8(1, 4);
    header.writeUInt8(this.shape.leafBits, 5);
    header.writeUInt8(this.shape.fanoutBits, 6);
    header.writeUInt8(this.d.replica.partitionBits, 7);
    header.writeUInt32LE(crc32c(body), 8);
    return Buffer.concat([header, body]);
  }

  /** The saved trees, or undefined when the bytes are damaged or do not match this data (then everything is rebuilt). */
  private async restore(bytes: Uint8Array, held: ReadonlySet<number>): Promise<{ tree: M.MerkleTree; tombstones: string[] }[] | undefined> {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (b.length < 12 || b.readUInt32LE(0) !== SAVE_MAGIC || b.readUInt8(4) !== 1) return undefined;
    if (b.readUInt8(5) !== this.shape.leafBits || b.readUInt8(6) !== this.shape.fanoutBits || b.readUInt8(7) !== this.d.replica.partitionBits) return undefined;
    const body = b.subarray(12);
    if (crc32c(body) !== b.readUInt32LE(8)) return undefined;
    const out: { tree: M.MerkleTree; tombstones: string[] }[] = [];
    let at = 0;
    const need = (n: number): boolean => at + n <= body.length;
    for (let p = 0; p < this.trees.length; p++) {
      if (!need(8)) return undefined;
      const count = body.readUInt32LE(at);
      const treeLen = body.readUInt32LE(at + 4);
      at += 8;
      // The data must be what was saved with: same partitions, same key counts.
      const now = held.has(p) ? (await this.d.replica.store(p)).count() : 0;
      if (count !== now || !need(treeLen)) return undefined;
      const tree = M.deserialize(body.subarray(at, at + treeLen));
      at += treeLen;
      if (E.isLeft(tree) || !M.sameShape(tree.right.shape, this.shape)) return undefined;
      if (!need(4)) return undefined;
      const n = body.readUInt32LE(at);
      at += 4;
      const tombstones: string[] = [];
      for (let i = 0; i < n; i++) {
        if (!need(2)) return undefined;
        const len = body.readUInt16LE(at);
        if (!need(2 + len)) return undefined;
        tombstones.push(keyString(body.subarray(at + 2, at + 2 + len)));
        at += 2 + len;
      }
      out.push({ tree: tree.right, tombstones });
    }
    return at === body.length ? out : undefined;
  }

  private async build(p: number): Promise<M.MerkleTree> {
    const tree = M.empty(this.shape);
    const qBits = this.d.replica.partitionBits;
    const tombs = this.tombstones[p]!;
    const index = this.segmentKeys[p]!;
    index.clear();
    const store = await this.d.replica.store(p);
    await store.fold((key, value) => {
      const h = itemHash(this.shape, qBits, key, value);
      M.toggle(tree, h.segment, h.hi, h.lo);
      const list = index.get(h.segment);
      if (list === undefined) index.set(h.segment, [keyString(key)]);
      else list.push(keyString(key));
      // Its age before the restart is unknown: count from now.
      if (isDeletedBytes(value)) tombs.set(keyString(key), this.d.clock.now());
    });
    return tree;
  }

  private observe(p: number, key: Uint8Array, before: Uint8Array | undefined, after: Uint8Array | undefined): void {
    const tree = this.trees[p];
    if (tree === undefined) return;
    const qBits = this.d.replica.partitionBits;
    let segment = -1;
    const change = before !== undefined && after !== undefined ? itemHashChange(this.shape, qBits, key, before, after) : null;
    if (change !== null) {
      // One pass over the levels: toggling the XOR removes the old item and adds the new.
      M.toggle(tree, change.segment, change.hi, change.lo);
      segment = change.segment;
    } else if (before !== undefined) {
      const h = itemHash(this.shape, qBits, key, before);
      M.toggle(tree, h.segment, h.hi, h.lo);
      segment = h.segment;
    }
    if (change === null && after !== undefined) {
      const h = itemHash(this.shape, qBits, key, after);
      M.toggle(tree, h.segment, h.hi, h.lo);
      segment = h.segment;
    }
    if ((before === undefined) !== (after === undefined)) {
      const index = this.segmentKeys[p]!;
      const k = keyString(key);
      const list = index.get(segment);
      if (after !== undefined) {
        if (list === undefined) index.set(segment, [k]);
        else list.push(k);
      } else if (list !== undefined) {
        const at = list.indexOf(k);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) index.delete(segment);
      }
    }
    const deletedBefore = before !== undefined && isDeletedBytes(before);
    const deletedAfter = after !== undefined && isDeletedBytes(after);
    if (deletedAfter) this.tombstones[p]!.set(keyString(key), this.d.clock.now());
    else if (deletedBefore) this.tombstones[p]!.delete(keyString(key));
  }

  /** The live tree of a partition (tests compare replicas' trees with it). */
  tree(p: number): M.MerkleTree {
    const t = this.trees[p];
    if (t === undefined) throw new KvError('KV_UNAVAILABLE', 'anti-entropy trees are still being built');
    return t;
  }

  /** Keys this node holds in `p`, by the segment index. */
  private keyCount(p: number): number {
    let n = 0;
    for (const list of this.segmentKeys[p]!.values()) n += list.length;
    return n;
  }

  /** Tombstone-only keys this node holds in `p`. */
  tombstoneCount(p?: number): number {
    if (p !== undefined) return this.tombstones[p]?.size ?? 0;
    let n = 0;
    for (const s of this.tombstones) n += s.size;
    return n;
  }

  partitionStatus(): readonly PartitionAaeStatus[] {
    return [...this.status.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([partition, s]) => ({ partition, ...s, tombstones: this.tombstoneCount(partition) }));
  }

  // ------------------------------------------------------------ serving peers

  async handle(req: PeerRequest): Promise<PeerReply> {
    switch (req.type) {
      case 'AAE_TREE': {
        this.checkShape(req.leafBits, req.fanoutBits);
        const r = M.answer(this.tree(this.checkPartition(req.partition)), { level: req.level, indices: req.indices });
        if (E.isLeft(r)) throw new KvError('KV_BAD_ARGUMENT', `AAE_TREE: ${r.left}`);
        return { type: 'AAE_TREE_REPLY', hi: r.right.hi, lo: r.right.lo };
      }
      case 'AAE_SEGMENTS': {
        this.checkShape(req.leafBits, req.fanoutBits);
        const items = await this.listSegments(this.checkPartition(req.partition), req.segments);
        return { type: 'AAE_SEGMENTS_REPLY', items: items.map((it) => ({ key: keyBytes(it.key), hi: it.hi, lo: it.lo })) };
      }
      case 'AAE_FETCH': {
        const p = this.checkPartition(req.partition);
        const items: { key: Uint8Array; object: Uint8Array }[] = [];
        for (const key of req.keys) {
          this.checkKey(p, key);
          const bytes = await this.d.replica.readBytes(key);
          if (bytes !== undefined) items.push({ key, object: bytes });
        }
        return { type: 'AAE_FETCH_REPLY', items };
      }
      case 'AAE_TOMB_CHECK': {
        const p = this.checkPartition(req.partition);
        const states: { state: AaeCopyState; hi: number; lo: number }[] = [];
        for (const it of req.items) {
          this.checkKey(p, it.key);
          const d = decodeObject(it.object);
          if (!d.ok) throw new KvError('KV_BAD_ARGUMENT', `AAE_TOMB_CHECK object does not decode: ${d.reason}`);
          states.push(await this.copyState(p, it.key, it.object, d.value));
        }
        return { type: 'AAE_TOMB_CHECK_REPLY', states };
      }
      case 'AAE_REAP': {
        const p = this.checkPartition(req.partition);
        for (const it of req.items) this.checkKey(p, it.key);
        let removed = 0;
        for (const it of req.items) if (await this.removeIfHash(p, it)) removed++;
        return { type: 'ACK', count: removed };
      }
      default:
        throw new KvError('KV_INTERNAL', `anti-entropy cannot handle ${req.type}`);
    }
  }

  private checkShape(leafBits: number, fanoutBits: number): void {
    if (leafBits !== this.shape.leafBits || fanoutBits !== this.shape.fanoutBits) {
      throw new KvError('KV_BAD_ARGUMENT', `Merkle shape ${leafBits}/${fanoutBits} differs from this node's ${this.shape.leafBits}/${this.shape.fanoutBits}`);
    }
  }

  private checkPartition(p: number): number {
    if (!Number.isInteger(p) || p < 0 || p >= this.trees.length) throw new KvError('KV_BAD_ARGUMENT', `partition ${p} out of range`);
    return p;
  }

  private checkKey(p: number, key: Uint8Array): void {
    const kp = this.d.replica.partitionOf(key);
    if (kp !== p) throw new KvError('KV_BAD_ARGUMENT', `key belongs to partition ${kp}, request says ${p}`);
  }

  /** Every (key, item hash) of `p` in `segments`, from the segment index and the stored bytes. */
  private async listSegments(p: number, segments: readonly number[]): Promise<M.SegmentItem[]> {
    const out: M.SegmentItem[] = [];
    const qBits = this.d.replica.partitionBits;
    const store = await this.d.replica.store(p);
    const index = this.segmentKeys[p]!;
    for (const s of segments) {
      const keys = index.get(s);
      if (keys === undefined) continue;
      for (const k of [...keys]) {
        if (out.length % 1024 === 1023) await this.yieldNow(0);
        const key = keyBytes(k);
        const value = store.getSync !== undefined ? store.getSync(key) : await store.get(key);
        if (value === undefined) continue;
        const h = itemHash(this.shape, qBits, key, value);
        out.push({ key: k, hi: h.hi, lo: h.lo });
      }
    }
    return out;
  }

  /** How this node's copy of `key` compares with a tombstone object (the reaping question). */
  private async copyState(p: number, key: Uint8Array, tombBytes: Uint8Array, tomb: D.Clock<Uint8Array>): Promise<{ state: AaeCopyState; hi: number; lo: number }> {
    const bytes = await this.d.replica.readBytes(key);
    if (bytes === undefined) return { state: 'absent', hi: 0, lo: 0 };
    const h = itemHash(this.shape, this.d.replica.partitionBits, key, bytes);
    if (Buffer.compare(bytes, tombBytes) === 0) return { state: 'same', hi: h.hi, lo: h.lo };
    const local = decodeObject(bytes, { copyValues: false });
    if (!local.ok || !D.descends(tomb, local.value)) return { state: 'other', hi: h.hi, lo: h.lo };
    return { state: this.d.hintPending(p, key) ? 'hinted' : 'older', hi: h.hi, lo: h.lo };
  }

  /** Removes the key if its stored object still has item hash (hi, lo) and no hint would carry a live copy. */
  private removeIfHash(p: number, it: AaeItem): Promise<boolean> {
    const qBits = this.d.replica.partitionBits;
    return this.d.replica.removeIf(it.key, (bytes) => {
      const h = itemHash(this.shape, qBits, it.key, bytes);
      if (h.hi !== it.hi || h.lo !== it.lo) return false;
      return isDeletedBytes(bytes) || !this.d.hintPending(p, it.key);
    }).then((removed) => {
      if (removed) this.d.stats.add('aaeTombstonesReaped');
      return removed;
    });
  }

  // ------------------------------------------------------------ exchanging

  /** One periodic round: the next held partition with its next up peer. Never rejects. */
  async tick(): Promise<void> {
    if (!this.ready || this.d.stopped()) return;
    const q = this.trees.length;
    for (let tries = 0; tries < q; tries++) {
      const p = this.nextPartition;
      this.nextPartition = (this.nextPartition + 1) % q;
      const primaries = this.d.primariesOf(p);
      if (!primaries.includes(this.d.self)) continue;
      const peers = primaries.filter((x) => x !== this.d.self && this.d.isUp(x));
      if (peers.length === 0) continue;
      const peer = peers[this.nextPeer++ % peers.length]!;
      try {
        await this.exchange(p, peer);
      } catch (e) {
        this.d.log('warn', `anti-entropy of partition ${p} with ${peer}: ${e instanceof Error ? e.message : String(e)}`);
      }
      return;
    }
  }

  /**
   * Exchanges partition `p` with `peer` (one of its other primaries unless
   * given): after it, both hold the merged object of every key that differed.
   * Runs after any exchange in progress.
   */
  exchange(p: number, peer?: NodeId): Promise<ExchangeResult> {
    this.checkPartition(p);
    const run = this.running.then(() => this.exchangeNow(p, peer));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async exchangeNow(p: number, peerGiven: NodeId | undefined): Promise<ExchangeResult> {
    if (!this.ready) throw new KvError('KV_UNAVAILABLE', 'anti-entropy trees are still being built');
    const peer = peerGiven ?? this.d.primariesOf(p).find((x) => x !== this.d.self && this.d.isUp(x));
    if (peer === undefined) throw new KvError('KV_UNAVAILABLE', `partition ${p} has no other primary that is up`);
    if (peer === this.d.self) throw new KvError('KV_BAD_ARGUMENT', 'cannot exchange with itself');
    const tree = this.tree(p);
    const st = { segmentsCompared: 0, bytesSent: 0, keysDiffering: 0, keysRepaired: 0, tombstonesReaped: 0 };
    // 1. Walk the trees: root, then the children of differing nodes only.
    let query: M.NodeQuery = M.rootQuery;
    let segments: readonly number[];
    for (;;) {
      const req: PeerRequest = { type: 'AAE_TREE', partition: p, leafBits: this.shape.leafBits, fanoutBits: this.shape.fanoutBits, level: query.level, indices: query.indices };
      st.bytesSent += 9 + 4 * query.indices.length;
      const reply = await this.d.request(peer, req, this.d.peerTimeoutMs);
      if (reply.type !== 'AAE_TREE_REPLY') throw new KvError('KV_INTERNAL', `AAE_TREE answered ${reply.type}`);
      const next = M.step(tree, { level: query.level, indices: query.indices, hi: reply.hi, lo: reply.lo });
      if (E.isLeft(next)) throw new KvError('KV_BAD_FRAME', `AAE_TREE reply: ${next.left}`);
      st.segmentsCompared += next.right.visited;
      if (next.right._tag === 'Done') {
        segments = next.right.segments;
        break;
      }
      query = next.right.query;
    }
    // 2. List and repair the differing segments, a bounded batch of segments at a time.
    const store = await this.d.replica.store(p);
    const perSegment = Math.max(1, store.count() / M.leafCount(this.shape));
    const segmentBatch = Math.max(1, Math.floor(this.d.config.maxSegmentItems / (2 * perSegment)));
    for (let i = 0; i < segments.length && !this.d.stopped(); i += segmentBatch) {
      const batch = segments.slice(i, i + segmentBatch);
      const local = await this.listSegments(p, batch);
      st.bytesSent += 8 + 4 * batch.length;
      const reply = await this.d.request(peer, { type: 'AAE_SEGMENTS', partition: p, leafBits: this.shape.leafBits, fanoutBits: this.shape.fanoutBits, segments: batch }, this.d.peerTimeoutMs);
      if (reply.type !== 'AAE_SEGMENTS_REPLY') throw new KvError('KV_INTERNAL', `AAE_SEGMENTS answered ${reply.type}`);
      const remote = reply.items.map((it) => ({ key: keyString(it.key), hi: it.hi, lo: it.lo }));
      // Listing reads every key of the segments on both sides: charged at one token per 32 items.
      await this.spend(Math.ceil((local.length + remote.length) / 32));
      const diff = M.diffItems(local, remote);
      st.keysDiffering += diff.keys.length;
      await this.repairKeys(p, peer, diff, st);
    }
    this.d.stats.add('aaeExchanges');
    this.d.stats.add('aaeSegmentsCompared', st.segmentsCompared);
    this.d.stats.add('aaeKeysRepaired', st.keysRepaired);
    this.d.stats.add('aaeBytesSent', st.bytesSent);
    const prev = this.status.get(p);
    this.status.set(p, {
      lastExchangeMs: this.d.clock.now(),
      lastPeer: peer,
      lastKeysRepaired: st.keysRepaired,
      keysRepaired: (prev?.keysRepaired ?? 0) + st.keysRepaired,
    });
    if (this.d.config.reap && this.tombstones[p]!.size > 0 && !this.d.stopped()) {
      try {
        st.tombstonesReaped = await this.reapRound(p);
      } catch (e) {
        this.d.log('warn', `reaping tombstones of partition ${p}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return { partition: p, peer, differingSegments: segments.length, ...st };
  }

  /** Waits `ms` on the Clock (0: one turn of the event loop, so foreground work queued meanwhile runs first). */
  private yieldNow(ms: number): Promise<void> {
    return new Promise((resolve) => this.d.clock.setTimer(ms, resolve));
  }

  /** Waits until the rate limit lets `n` more keys through. */
  private async spend(n: number): Promise<void> {
    const t = A.take(this.bucket, this.d.clock.now(), n);
    this.bucket = t.bucket;
    await this.yieldNow(t.waitMs);
  }

  private async repairKeys(p: number, peer: NodeId, diff: M.ItemDiff, st: { bytesSent: number; keysRepaired: number }): Promise<void> {
    const remoteHash = new Map<string, { hi: number; lo: number }>();
    for (const it of diff.onlyRemote) remoteHash.set(it.key, it);
    const localHash = new Map<string, { hi: number; lo: number }>();
    for (const it of diff.onlyLocal) localHash.set(it.key, it);
    const qBits = this.d.replica.partitionBits;
    const batchKeys = this.d.config.batchKeys;
    // Pull what the peer has that differs, and merge it here.
    const pull = diff.keys.filter((k) => remoteHash.has(k));
    for (let i = 0; i < pull.length && !this.d.stopped(); i += batchKeys) {
      const keys = pull.slice(i, i + batchKeys).map(keyBytes);
      await this.spend(keys.length);
      st.bytesSent += 4 + keys.reduce((n, k) => n + 2 + k.length, 0);
      const reply = await this.d.request(peer, { type: 'AAE_FETCH', partition: p, keys }, this.d.peerTimeoutMs);
      if (reply.type !== 'AAE_FETCH_REPLY') throw new KvError('KV_INTERNAL', `AAE_FETCH answered ${reply.type}`);
      let n = 0;
      for (const it of reply.items) {
        if (++n % YIELD_EVERY === 0) await this.yieldNow(0);
        this.checkKey(p, it.key);
        const obj = decodeObject(it.object);
        if (!obj.ok) throw new KvError('KV_CORRUPTION', `AAE_FETCH object does not decode: ${obj.reason}`);
        await this.d.replica.merge(it.key, obj.value);
      }
    }
    // Push the merged objects the peer lacks.
    let items: { partition: number; key: Uint8Array; object: Uint8Array }[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (items.length === 0) return;
      await this.spend(items.length);
      const sent = items;
      items = [];
      st.bytesSent += 2 + bytes;
      bytes = 0;
      const reply = await this.d.request(peer, { type: 'REPLICA_PUT_BATCH', items: sent }, this.d.peerTimeoutMs);
      if (reply.type !== 'ACK') throw new KvError('KV_INTERNAL', `REPLICA_PUT_BATCH answered ${reply.type}`);
      st.keysRepaired += sent.length;
    };
    let n = 0;
    for (const k of diff.keys) {
      if (this.d.stopped()) return;
      if (++n % YIELD_EVERY === 0) await this.yieldNow(0);
      const key = keyBytes(k);
      const object = await this.d.replica.readBytes(key);
      if (object === undefined) continue;
      const h = itemHash(this.shape, qBits, key, object);
      const old = localHash.get(k);
      // Every key here differed, so local was absent (no `old`) or held another version: it changed iff its hash did.
      if (old === undefined || old.hi !== h.hi || old.lo !== h.lo) st.keysRepaired++;
      const r = remoteHash.get(k);
      if (r !== undefined && r.hi === h.hi && r.lo === h.lo) continue;
      items.push({ partition: p, key, object });
      bytes += 2 + key.length + 2 + 4 + object.length;
      if (items.length >= batchKeys || bytes >= 1024 * 1024) await flush();
    }
    await flush();
  }

  // ------------------------------------------------------------ reaping

  /**
   * Asks every member about up to one batch of this partition's tombstones
   * and reaps those the rule of core/aae.ts allows. Returns how many keys
   * were reaped here.
   */
  private async reapRound(p: number): Promise<number> {
    const primaries = this.d.primariesOf(p);
    if (!primaries.includes(this.d.self)) return 0;
    const members = [...new Set([...this.d.members(), ...primaries, this.d.self])];
    // Anyone unreachable might hold anything: no reaping until every member answers.
    if (members.some((m) => m !== this.d.self && !this.d.isUp(m))) return 0;
    const items: { key: Uint8Array; object: Uint8Array }[] = [];
    const oldEnough = this.d.clock.now() - this.d.config.reapAfterMs;
    const candidates = [...this.tombstones[p]!].filter(([, atMs]) => atMs <= oldEnough).map(([k]) => k);
    for (const k of candidates.slice(0, this.d.config.batchKeys)) {
      const key = keyBytes(k);
      const bytes = await this.d.replica.readBytes(key);
      if (bytes === undefined || !isDeletedBytes(bytes)) {
        this.tombstones[p]!.delete(k);
        continue;
      }
      items.push({ key, object: bytes });
    }
    if (items.length === 0) return 0;
    // One answer per member per key.
    const answers = new Map<NodeId, readonly { state: A.CopyState; hi: number; lo: number }[]>();
    await Promise.all(
      members.map(async (m) => {
        if (m === this.d.self) {
          const own: { state: A.CopyState; hi: number; lo: number }[] = [];
          for (const it of items) {
            const h = itemHash(this.shape, this.d.replica.partitionBits, it.key, it.object);
            own.push({ state: 'same', hi: h.hi, lo: h.lo });
          }
          answers.set(m, own);
          return;
        }
        try {
          const reply = await this.d.request(m, { type: 'AAE_TOMB_CHECK', partition: p, items }, this.d.peerTimeoutMs);
          if (reply.type !== 'AAE_TOMB_CHECK_REPLY' || reply.states.length !== items.length) throw new Error('bad reply');
          answers.set(m, reply.states);
        } catch {
          answers.set(m, items.map(() => ({ state: 'unreachable' as const, hi: 0, lo: 0 })));
        }
      }),
    );
    // Per holder, the items to remove (with the hash it described).
    const reapBy = new Map<NodeId, AaeItem[]>();
    items.forEach((it, i) => {
      const verdict = A.reapVerdict(
        primaries,
        members.map((m) => ({ node: m, state: answers.get(m)![i]!.state })),
      );
      if (verdict._tag === 'keep') return;
      for (const h of verdict.holders) {
        const a = answers.get(h)![i]!;
        let list = reapBy.get(h);
        if (list === undefined) reapBy.set(h, (list = []));
        list.push({ key: it.key, hi: a.hi, lo: a.lo });
      }
    });
    if (reapBy.size === 0) return 0;
    // Stale copies on non-primaries go first: a primary's tombstone is only
    // removed once no other copy that it supersedes is left anywhere.
    const blocked = new Set<string>();
    const send = async (holder: NodeId, list: readonly AaeItem[]): Promise<void> => {
      const todo = list.filter((it) => !blocked.has(keyString(it.key)));
      if (todo.length === 0) return;
      if (holder === this.d.self) {
        for (const it of todo) await this.removeIfHash(p, it);
        return;
      }
      try {
        const reply = await this.d.request(holder, { type: 'AAE_REAP', partition: p, items: todo }, this.d.peerTimeoutMs);
        if (reply.type === 'ACK' && reply.count === todo.length) return;
      } catch {
        // fall through: treat every key of this holder as not reaped there
      }
      for (const it of todo) blocked.add(keyString(it.key));
    };
    const others = [...reapBy.keys()].filter((h) => !primaries.includes(h));
    await Promise.all(others.map((h) => send(h, reapBy.get(h)!)));
    const before = this.d.stats.counter('aaeTombstonesReaped');
    // Other primaries before this one: this node keeps the candidate list until its own copy goes.
    for (const h of primaries.filter((x) => x !== this.d.self && reapBy.has(x))) await send(h, reapBy.get(h)!);
    if (reapBy.has(this.d.self)) await send(this.d.self, reapBy.get(this.d.self)!);
    return this.d.stats.counter('aaeTombstonesReaped') - before;
  }
}

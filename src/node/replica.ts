/**
 * A node's local, versioned copy of the data: each key's stored object is a
 * DVVSet clock (src/core/dvvset.ts) whose sibling values are tagged bytes, a
 * value or a tombstone, encoded with src/core/context_codec.ts and kept in
 * the key's ring partition of a StorageBackend.
 *
 * The replica does the read-modify-write steps that must not interleave:
 * `coordinate` (a client write becomes the next dot of this replica) and
 * `merge` (a replica or repair object is synced into the local one) run under
 * a per-key lock, so two concurrent writes to one key never lose each other.
 */
import * as D from '../core/dvvset.js';
import { decodeObject, encodeObject, encodeSupersedingWrite, objectView, type ObjectView } from '../core/context_codec.js';
import { KvError } from '../errors.js';
import { partitionOfUnchecked } from '../native/addon.js';
import type { PartitionStore, StorageBackend } from '../storage/backend.js';
import { KeyLock } from '../util/key_lock.js';

/** First byte of a stored sibling. */
export const TAG_VALUE = 0;
export const TAG_TOMBSTONE = 1;

export type Tagged = Uint8Array;
export type Obj = D.Clock<Tagged>;

const TOMBSTONE: Tagged = new Uint8Array([TAG_TOMBSTONE]);
const EMPTY_BYTES = new Uint8Array(0);

export const tagValue = (value: Uint8Array): Tagged => {
  // From Buffer's pool: a fresh Uint8Array over 64 bytes costs ~10x (its own ArrayBuffer).
  const out = Buffer.allocUnsafe(value.length + 1);
  out[0] = TAG_VALUE;
  out.set(value, 1);
  return out;
};

export const tombstone = (): Tagged => TOMBSTONE;

export const isTombstone = (v: Tagged): boolean => v[0] === TAG_TOMBSTONE;

/** The user's bytes of a value sibling (a view, no copy). */
export const untag = (v: Tagged): Uint8Array => v.subarray(1);

/**
 * Told of every change to a stored object, after the backend has it and
 * while the key is still locked (so changes of one key arrive in order):
 * the stored bytes before and after (undefined: absent). Anti-entropy keeps
 * its live Merkle trees with it (src/cluster/anti_entropy.ts).
 */
export type ReplicaObserver = (partition: number, key: Uint8Array, before: Uint8Array | undefined, after: Uint8Array | undefined) => void;

/**
 * A stored object with the bytes it is stored as (`bytes` = encodeObject(object)):
 * a coordinator sends those bytes to the other replicas instead of encoding
 * the object a second time.
 */
export interface Stored {
  readonly object: Obj;
  readonly bytes: Uint8Array;
}

const objectOf = (object: Obj): Obj => object;
const storedOf = (object: Obj, bytes: Uint8Array): Stored => ({ object, bytes });

/**
 * The stored bytes of `key` for a read-modify-write whose result is `out`.
 * The memory backend lends them (peekSync) when nothing made from them
 * outlives the write: they are unchanged through this one write (the
 * observer is told them after it), not through the key's next (MemoryTable
 * may reuse the region). A Stored result keeps the object, whose values
 * would be views of them, for as long as the cluster's quorum waits, so it
 * gets a copy.
 */
const lentOrCopied = <T>(store: ReadStore, out: (object: Obj, bytes: Uint8Array) => T, key: Uint8Array): Uint8Array | undefined =>
  out === (objectOf as unknown) ? lent(store, key) : store.getSync(key);

/** The stored bytes of `key`, lent by a store that can (peekSync), else a copy. */
const lent = (store: ReadStore, key: Uint8Array): Uint8Array | undefined => (store.peekSync !== undefined ? store.peekSync(key) : store.getSync(key));

export interface ReplicaOptions {
  readonly backend: StorageBackend;
  /** This replica's id in clocks; must never be reused by a node that lost its data. */
  readonly replicaId: string;
  /** log2 of the number of ring partitions. */
  readonly partitionBits: number;
}

export class Replica {
  readonly backend: StorageBackend;
  readonly replicaId: string;
  /** replicaId in UTF-8, for the write done on bytes (`supersedeNow`). */
  private readonly replicaIdBytes: Uint8Array;
  readonly partitionBits: number;
  private readonly stores: (PartitionStore | undefined)[];
  private readonly opening = new Map<number, Promise<PartitionStore>>();
  private readonly locks = new KeyLock();
  /** See ReplicaObserver; at most one (the node's anti-entropy). */
  observer: ReplicaObserver | undefined = undefined;

  constructor(options: ReplicaOptions) {
    this.backend = options.backend;
    this.replicaId = options.replicaId;
    this.replicaIdBytes = new TextEncoder().encode(options.replicaId);
    if (!Number.isInteger(options.partitionBits) || options.partitionBits < 1 || options.partitionBits > 32) {
      throw new KvError('KV_BAD_ARGUMENT', `partitionBits must be an integer in 1..32, got ${String(options.partitionBits)}`);
    }
    this.partitionBits = options.partitionBits;
    this.stores = new Array<PartitionStore | undefined>(2 ** options.partitionBits);
  }

  partitionOf(key: Uint8Array): number {
    // partitionBits was checked once in the constructor; the per-call checks
    // of the public partitionOf were ~5% of an in-process PUT.
    if (!(key instanceof Uint8Array)) throw new KvError('KV_BAD_ARGUMENT', 'key must be a Uint8Array or Buffer');
    return partitionOfUnchecked(key, this.partitionBits);
  }

  /** The open store of a partition, opening it on first use. */
  store(partition: number): PartitionStore | Promise<PartitionStore> {
    const open = this.stores[partition];
    if (open !== undefined) return open;
    let pending = this.opening.get(partition);
    if (pending === undefined) {
      pending = this.backend.open(partition).then((s) => {
        this.stores[partition] = s;
        this.opening.delete(partition);
        return s;
      });
      pending.catch(() => this.opening.delete(partition));
      this.opening.set(partition, pending);
    }
    return pending;
  }

  /** Opens every partition in `partitions` (e.g. at start, so first reads take the sync path). */
  async openAll(partitions: Iterable<number>): Promise<void> {
    for (const p of partitions) await this.store(p);
  }

  /**
   * The stored object of `key`, or null. Synchronous when the partition is
   * open and the backend reads synchronously (the common case).
   */
  read(key: Uint8Array): Obj | null | Promise<Obj | null> {
    const store = this.store(this.partitionOf(key));
    if (!(store instanceof Promise) && store.getSync !== undefined) return decodeStored(key, store.getSync(key));
    return Promise.resolve(store).then((s) => s.get(key).then((bytes) => decodeStored(key, bytes)));
  }

  /**
   * Stores a client write (value or tombstone) as the next dot of this
   * replica, on top of the local object. Resolves with the new object once
   * the backend has it (per its durability mode).
   */
  coordinate(key: Uint8Array, write: D.Pending<Tagged>): Promise<Obj> {
    return this.coordinateThen(key, write, objectOf);
  }

  /** `coordinate`, resolving with the stored bytes too (what the other replicas are sent). */
  coordinateStored(key: Uint8Array, write: D.Pending<Tagged>): Promise<Stored> {
    return this.coordinateThen(key, write, storedOf);
  }

  private coordinateThen<T>(key: Uint8Array, write: D.Pending<Tagged>, out: (object: Obj, bytes: Uint8Array) => T): Promise<T> {
    const partition = this.partitionOf(key);
    // runEager: an uncontended key reads, updates and starts its put inside
    // this call, with no microtask hop before the work (the put's promise
    // still holds the key until the backend has the write).
    return this.locks.runEager(key, () => {
      const store = this.stores[partition];
      if (store === undefined || store.getSync === undefined) return this.coordinateAsync(key, write, out);
      const before = lentOrCopied(store as ReadStore, out, key);
      const next = this.nextVersion(key, before, write);
      const after = encodeObject(next);
      const observer = this.observer;
      if (observer === undefined) return store.put(key, after).then(() => out(next, after));
      return store.put(key, after).then(() => {
        observer(partition, key, before, after);
        return out(next, after);
      });
    });
  }

  /**
   * `coordinate`, finished before it returns when it can be: the partition
   * is open on a store that reads and writes synchronously (memory; log
   * unless durability is `always`) and no key is locked at all, so nothing can interleave with this
   * read-modify-write and it needs no lock (nor the promises a lock costs).
   * Otherwise it is `coordinate`. Throws, rather than rejects, on a sync
   * failure.
   */
  coordinateNow(key: Uint8Array, write: D.Pending<Tagged>): Obj | Promise<Obj> {
    const partition = this.partitionOf(key);
    const store = this.syncStore(partition);
    if (store === undefined) return this.coordinate(key, write);
    return this.updateSync(store, partition, key, write, objectOf);
  }

  /** `coordinateStored`, finished before it returns when it can be (see `coordinateNow`). Throws on a sync failure. */
  coordinateStoredNow(key: Uint8Array, write: D.Pending<Tagged>): Stored | Promise<Stored> {
    const partition = this.partitionOf(key);
    const store = this.syncStore(partition);
    if (store === undefined) return this.coordinateStored(key, write);
    return this.updateSync(store, partition, key, write, storedOf);
  }

  private updateSync<T>(store: SyncStore, partition: number, key: Uint8Array, write: D.Pending<Tagged>, out: (object: Obj, bytes: Uint8Array) => T): T {
    const before = lentOrCopied(store, out, key);
    const next = this.nextVersion(key, before, write);
    const after = encodeObject(next);
    store.putSync(key, after);
    this.observer?.(partition, key, before, after);
    return out(next, after);
  }

  /**
   * A client write that supersedes the whole stored object, done on bytes
   * (encodeSupersedingWrite): the object is this replica's single entry and
   * the client's context is its clock, or the key is absent and the write
   * blind. That is nearly every write of a standalone node, and it then
   * costs no decode, clock or encode. Answers the reply's context bytes, or
   * undefined when it did nothing: another case, or a store that cannot do
   * it synchronously (see `coordinateNow`); the caller then takes the
   * general path. `value` null is a delete (a tombstone). Throws on a sync
   * store failure.
   */
  supersedeNow(key: Uint8Array, context: Uint8Array, value: Uint8Array | null): Uint8Array | undefined {
    const partition = this.partitionOf(key);
    const store = this.syncStore(partition);
    if (store === undefined) return undefined;
    const before = lent(store, key);
    const w = encodeSupersedingWrite(before, context, this.replicaIdBytes, value === null ? TAG_TOMBSTONE : TAG_VALUE, value ?? EMPTY_BYTES);
    if (w === undefined) return undefined;
    store.putSync(key, w.object);
    this.observer?.(partition, key, before, w.object);
    return w.context;
  }

  /**
   * `merge`, finished before it returns when it can be (as `coordinateNow`):
   * a replica write from a peer then needs no lock, promise or microtask.
   * Throws, rather than rejects, on a sync failure.
   */
  mergeNow(key: Uint8Array, incoming: Obj, incomingBytes?: Uint8Array): Obj | Promise<Obj> {
    const partition = this.partitionOf(key);
    const store = this.syncStore(partition);
    if (store === undefined) return this.merge(key, incoming, incomingBytes);
    const before = store.getSync(key);
    const { merged, after } = this.mergeStep(key, before, incoming, incomingBytes);
    if (after === undefined) return merged;
    store.putSync(key, after);
    this.observer?.(partition, key, before, after);
    return merged;
  }

  /**
   * The partition's store when a read-modify-write of `key` may run
   * synchronously: the partition is open, its store reads and writes
   * synchronously (memory; log unless durability is `always`), and no key is
   * locked at all, so nothing can interleave with it.
   */
  private syncStore(partition: number): SyncStore | undefined {
    if (this.locks.size !== 0) return undefined;
    const store = this.stores[partition] as (PartitionStore & Peekable & SyncWritable) | undefined;
    if (store === undefined || store.getSync === undefined || store.putSync === undefined) return undefined;
    return store as SyncStore;
  }

  /** A client write as the next dot of this replica on top of the stored `before` (absent: a new key). */
  private nextVersion(key: Uint8Array, before: Uint8Array | undefined, write: D.Pending<Tagged>): Obj {
    return D.update(write, this.replicaId, decodeStored(key, before) ?? D.empty);
  }

  /**
   * `incoming` synced into the stored `before`, and the bytes to store:
   * undefined when `before` holds all of it already (nothing to write), and
   * `incomingBytes` when the merge is `incoming` itself (the codec is
   * canonical, so no second encoding).
   */
  private mergeStep(key: Uint8Array, before: Uint8Array | undefined, incoming: Obj, incomingBytes: Uint8Array | undefined): { readonly merged: Obj; readonly after: Uint8Array | undefined } {
    const local = decodeStored(key, before);
    const merged = local === null ? incoming : D.sync(local, incoming);
    if (local !== null && D.equals(merged, local, bytesEqual)) return { merged, after: undefined };
    return { merged, after: merged === incoming && incomingBytes !== undefined ? incomingBytes : encodeObject(merged) };
  }

  private async coordinateAsync<T>(key: Uint8Array, write: D.Pending<Tagged>, out: (object: Obj, bytes: Uint8Array) => T): Promise<T> {
    const before = await this.readBytes(key);
    const next = this.nextVersion(key, before, write);
    const after = encodeObject(next);
    await this.write(key, after, before);
    return out(next, after);
  }

  /** The stored bytes of `key` (undefined: absent). */
  async readBytes(key: Uint8Array): Promise<Uint8Array | undefined> {
    const store = await this.store(this.partitionOf(key));
    return store.getSync !== undefined ? store.getSync(key) : store.get(key);
  }

  /**
   * `readBytes`, synchronous when the partition is open and the backend
   * reads synchronously: what a replica read sends back (an encoded object
   * already), without decoding and re-encoding it.
   */
  readStored(key: Uint8Array): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    const store = this.store(this.partitionOf(key));
    if (!(store instanceof Promise) && store.getSync !== undefined) return store.getSync(key);
    return this.readBytes(key);
  }

  /**
   * What a read of `key` replies with (its context and sibling values),
   * taken from the stored bytes without building the clock; null when the
   * key is absent. Synchronous when the partition is open and the backend
   * reads synchronously. The values are views of the backend's result.
   */
  readView(key: Uint8Array): ObjectView | null | Promise<ObjectView | null> {
    const store = this.store(this.partitionOf(key));
    if (!(store instanceof Promise)) {
      // The memory backend lends its own bytes (peekSync): the view's
      // values are then the store's, so callers must not mutate them.
      if (store.getSync !== undefined) return viewStored(key, lent(store as ReadStore, key));
    }
    return Promise.resolve(store).then((s) => s.get(key).then((bytes) => viewStored(key, bytes)));
  }

  /**
   * Syncs `incoming` (a replica's or a repair's object) into the local one.
   * Resolves with the merged object; writes only when it changed.
   * `incomingBytes`, when given, must be encodeObject(incoming) (e.g. the
   * bytes it was decoded from: the codec is canonical): when the merge is
   * `incoming` itself, as for a replica write that supersedes the local
   * copy, those bytes are stored instead of encoding the object again.
   */
  merge(key: Uint8Array, incoming: Obj, incomingBytes?: Uint8Array): Promise<Obj> {
    const partition = this.partitionOf(key);
    return this.locks.run(key, () => {
      const store = this.stores[partition];
      // The common case runs without an await inside the lock: an open partition on a store that reads synchronously.
      if (store === undefined || store.getSync === undefined) return this.mergeAsync(key, incoming, incomingBytes);
      const before = store.getSync(key);
      const { merged, after } = this.mergeStep(key, before, incoming, incomingBytes);
      if (after === undefined) return merged;
      const observer = this.observer;
      return store.put(key, after).then(() => {
        observer?.(partition, key, before, after);
        return merged;
      });
    });
  }

  private async mergeAsync(key: Uint8Array, incoming: Obj, incomingBytes: Uint8Array | undefined): Promise<Obj> {
    const before = await this.readBytes(key);
    const { merged, after } = this.mergeStep(key, before, incoming, incomingBytes);
    if (after !== undefined) await this.write(key, after, before);
    return merged;
  }

  /**
   * Removes `key` if its stored bytes still satisfy `unchanged` (checked
   * under the key lock, so a write that slipped in since the caller looked
   * is never lost). Anti-entropy reaps a tombstone this way once every
   * replica holds it. Resolves true when it removed the key.
   */
  removeIf(key: Uint8Array, unchanged: (stored: Uint8Array) => boolean): Promise<boolean> {
    return this.locks.run(key, async () => {
      const before = await this.readBytes(key);
      if (before === undefined || !unchanged(before)) return false;
      const partition = this.partitionOf(key);
      const store = await this.store(partition);
      await store.delete(key);
      this.observer?.(partition, key, before, undefined);
      return true;
    });
  }

  private async write(key: Uint8Array, after: Uint8Array, before: Uint8Array | undefined): Promise<void> {
    const partition = this.partitionOf(key);
    const store = await this.store(partition);
    await store.put(key, after);
    this.observer?.(partition, key, before, after);
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}

/** A store that can lend its bytes without a copy (src/storage/memory.ts). */
interface Peekable {
  readonly peekSync?: (key: Uint8Array) => Uint8Array | undefined;
}

/** A store that can write before returning (src/storage/memory.ts). */
interface SyncWritable {
  readonly putSync?: (key: Uint8Array, value: Uint8Array) => void;
}

/** A store that reads synchronously (and may lend its bytes). */
type ReadStore = PartitionStore & Peekable & Pick<Required<PartitionStore>, 'getSync'>;

/** A store a read-modify-write can run on synchronously (Replica.syncStore). */
type SyncStore = ReadStore & Required<SyncWritable>;

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

// The backend's result is ours to keep (backend.ts: later reads must not
// overwrite it), so values may be views of it instead of a second copy.
const decodeStored = (key: Uint8Array, bytes: Uint8Array | undefined): Obj | null => {
  if (bytes === undefined) return null;
  const d = decodeObject(bytes, { copyValues: false });
  if (!d.ok) {
    throw new KvError('KV_CORRUPTION', `stored object of key ${Buffer.from(key).toString('hex')} does not decode: ${d.reason}`);
  }
  return d.value;
};

const viewStored = (key: Uint8Array, bytes: Uint8Array | undefined): ObjectView | null => {
  if (bytes === undefined) return null;
  const d = objectView(bytes);
  if (!d.ok) {
    throw new KvError('KV_CORRUPTION', `stored object of key ${Buffer.from(key).toString('hex')} does not decode: ${d.reason}`);
  }
  return d.value;
};

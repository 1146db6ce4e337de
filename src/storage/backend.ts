/**
 * The storage backend contract.
 *
 * A backend stores opaque bytes under opaque byte keys, one store per ring
 * partition (as Riak's backends are opened per vnode), so that a partition
 * can be folded, streamed to another node and dropped as a unit. Versioning,
 * siblings and tombstones of the Dynamo layer live *inside* the values: to a
 * backend a Dynamo tombstone is just another value, and `delete` here is the
 * physical removal that happens when that tombstone is finally reaped.
 *
 * Implementors write a `StorageBackend`; the public wrappers validate
 * arguments before they reach it. Every backend must pass
 * `runStorageBackendSuite` (src/storage/conformance.ts).
 */

/** What a backend can do; callers branch on this, never on the backend's name. */
export interface BackendCapabilities {
  /** Short name, e.g. `log`, `memory`, `lmdb`. */
  readonly name: string;
  /** Data survives a process crash (given the durability mode). */
  readonly persistent: boolean;
  /** `getSync` is available. */
  readonly syncGet: boolean;
  /** `fold` visits keys in ascending byte order (otherwise in no given order). */
  readonly orderedFold: boolean;
  /** `fold` sees one consistent snapshot, untouched by writes made during it. */
  readonly snapshotFold: boolean;
  /** Durability modes the backend honours. */
  readonly durability: readonly Durability[];
  /** Largest key and value the backend accepts, in bytes. */
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
}

/**
 * When a write's promise resolves:
 * - `none`: after the write is in the backend's memory/page cache;
 * - `interval`: same, and the backend syncs every `syncIntervalMs`;
 * - `always`: only after the write's bytes are synced to stable storage.
 */
export type Durability = 'none' | 'interval' | 'always';

export interface BackendOptions {
  /** Directory that holds all partitions of this backend (ignored by memory). */
  readonly dir: string;
  readonly durability?: Durability;
  readonly syncIntervalMs?: number;
  /**
   * `interval` on the log engine (Linux): one syncfs per filesystem per
   * round covers every partition of the process (default true); false
   * fdatasyncs each partition's files on its own. Other backends ignore it.
   */
  readonly sharedSync?: boolean;
}

export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly key: Uint8Array };

export interface FoldOptions {
  /** Skip reading values (visit gets an empty value). */
  readonly keysOnly?: boolean;
}

/** Counters every backend reports; engine-specific extras go in `extra`. */
export interface PartitionStats {
  readonly keys: number;
  readonly liveBytes: number;
  readonly deadBytes: number;
  readonly extra?: Readonly<Record<string, number>>;
}

/** One partition's key-value store. */
export interface PartitionStore {
  readonly partition: number;
  /** The value, or `undefined` when the key is absent. The result is the caller's: later reads must not overwrite it. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Present when `capabilities.syncGet`. */
  getSync?(key: Uint8Array): Uint8Array | undefined;
  /** Stores the value; resolves per the backend's durability mode. */
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Removes the key (no-op when absent); resolves per the durability mode. */
  delete(key: Uint8Array): Promise<void>;
  /** Applies the ops in order; all of them are durable when it resolves. An invalid op rejects the batch before any op is applied. */
  batch(ops: readonly BatchOp[]): Promise<void>;
  /**
   * Visits every live key. `visit` may return `false` to stop early. Resolves
   * with the number of entries visited. Values handed to `visit` may be
   * reused after it returns: copy them to keep them.
   */
  fold(visit: (key: Uint8Array, value: Uint8Array) => boolean | void, options?: FoldOptions): Promise<number>;
  /** Number of live keys. */
  count(): number;
  stats(): PartitionStats;
  /** Syncs everything written so far to stable storage. */
  sync(): Promise<void>;
  /** Flushes and releases the partition; later calls fail with `KV_CLOSED`. */
  close(): Promise<void>;
}

export interface StorageBackend {
  readonly capabilities: BackendCapabilities;
  /**
   * Opens (creating if needed) a partition. Opening an open partition returns
   * the same store; opening one whose close is running returns a new store. A
   * bad partition number rejects with KV_BAD_ARGUMENT. Keys are
   * 1..maxKeyBytes bytes; a backend may refuse the empty key with
   * KV_BAD_ARGUMENT.
   */
  open(partition: number): Promise<PartitionStore>;
  /** Closes (if open) and deletes every byte of a partition. */
  drop(partition: number): Promise<void>;
  /** Partitions that hold data (on disk, or in memory for `memory`); one opened but never written may be listed; a dropped one never is. */
  partitions(): Promise<number[]>;
  /** Closes every open partition. */
  close(): Promise<void>;
}

export type BackendFactory = (options: BackendOptions) => Promise<StorageBackend>;

/**
 * The `lmdb` backend, on the npm `lmdb` package (lmdb-js).
 *
 * Layout: one LMDB environment per partition, in `<dir>/p<partition>/`
 * (files `data.mdb` and `lock.mdb`), rather than one environment with a named
 * database per partition. Why:
 * - `drop` must delete every byte of a partition. Dropping a named database
 *   only returns its pages to the environment's free list; the file never
 *   shrinks. Removing a directory does.
 * - A partition is the unit of handoff (ring strategy 3); a directory of its
 *   own can be copied or streamed whole, with no other partition inside.
 * - Partitions open and close independently (one env each), and a corrupt or
 *   full file affects one partition.
 * The cost: each environment has its own write thread and its own commits, so
 * `always` writes to different partitions do not share an fsync, and each open
 * partition maps its own file (virtual address space only, cheap on 64-bit).
 *
 * Durability:
 * - `always`: `overlappingSync: false`, so lmdb-js resolves a write only after
 *   the transaction that holds it has been committed *and* synced; concurrent
 *   writes in one event turn share that commit (lmdb-js batches them).
 * - `none`: `noSync: true`. Committed transactions are in the OS page cache:
 *   a crash of this process loses nothing that resolved, an OS crash or power
 *   loss may lose the last transactions (LMDB keeps the file consistent, it
 *   does not roll back to a torn state, as long as the file system keeps write
 *   order).
 * - `interval`: as `none`, plus a forced `mdb_env_sync` every `syncIntervalMs`.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { KvError } from '../errors.js';
import { asBuffer, bytesArg, closedError, nextTurn, partitionArg } from './args.js';
import type {
  BackendCapabilities,
  BackendOptions,
  BatchOp,
  Durability,
  FoldOptions,
  PartitionStats,
  PartitionStore,
  StorageBackend,
} from './backend.js';

export interface LmdbBackendOptions extends BackendOptions {
  /** Largest value accepted; LMDB itself allows far more, but a node should not. */
  readonly maxValueBytes?: number;
}

/** lmdb-js' limit with the default 4 KiB page (MDB_MAXKEYSIZE is compiled out). */
export const LMDB_MAX_KEY_BYTES = 1978;
export const LMDB_MAX_VALUE_BYTES = 16 * 1024 * 1024;
export const LMDB_DEFAULT_SYNC_INTERVAL_MS = 1000;

const FOLD_YIELD_EVERY = 4096;
const DIR_PATTERN = /^p(\d+)$/;
const EMPTY = Buffer.alloc(0);

/** The parts of lmdb-js we use that its typings leave out. */
interface LmdbExtras {
  sync(callback: (error?: unknown) => void): void;
}

type Db = RootDatabase<Buffer, Buffer>;

const closed = closedError;
const bytes = bytesArg;
const checkPartition = partitionArg;

const ioError = (what: string, cause: unknown): KvError =>
  cause instanceof KvError ? cause : new KvError('KV_IO_ERROR', `${what}: ${String((cause as Error)?.message ?? cause)}`, { cause });

export class LmdbPartitionStore implements PartitionStore {
  #open = true;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    readonly partition: number,
    /** The lmdb-js database; exposed for the benchmark's `getBinaryFast` path. */
    readonly db: Db,
    private readonly caps: BackendCapabilities,
    private readonly durability: Durability,
    syncIntervalMs: number,
    /** Told when close starts, with the promise of its end. */
    private readonly onClose: (store: LmdbPartitionStore, done: Promise<void>) => void,
  ) {
    if (durability === 'interval') {
      this.#timer = setInterval(() => {
        this.sync().catch(() => {
          // A failed periodic sync is retried on the next tick; an explicit
          // sync() or close() reports the error to a caller.
        });
      }, syncIntervalMs);
      this.#timer.unref();
    }
  }

  #alive(): void {
    if (!this.#open) throw closed(`lmdb partition ${this.partition}`);
  }

  #key(key: unknown): Buffer {
    const k = bytes('key', key);
    if (k.length === 0) throw new KvError('KV_BAD_ARGUMENT', 'key must not be empty (LMDB cannot store one)');
    if (k.length > this.caps.maxKeyBytes) {
      throw new KvError('KV_TOO_LARGE', `key is ${k.length} bytes, max ${this.caps.maxKeyBytes}`);
    }
    return asBuffer(k);
  }

  #value(value: unknown): Buffer {
    const v = bytes('value', value);
    if (v.length > this.caps.maxValueBytes) {
      throw new KvError('KV_TOO_LARGE', `value is ${v.length} bytes, max ${this.caps.maxValueBytes}`);
    }
    // lmdb-js keeps a reference to a Buffer value until the write thread has
    // copied it into the map, so a caller reusing its buffer right after put()
    // would change what gets stored. Copy now.
    return Buffer.from(v);
  }

  getSync(key: Uint8Array): Uint8Array | undefined {
    this.#alive();
    // getBinary copies out of the map; getBinaryFast would hand back a buffer
    // that the next get overwrites, which the contract does not allow here.
    return this.db.getBinary(this.#key(key));
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.getSync(key);
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.#alive();
    const k = this.#key(key);
    const v = this.#value(value);
    try {
      await this.db.put(k, v);
    } catch (e) {
      throw ioError(`lmdb put in partition ${this.partition}`, e);
    }
  }

  async delete(key: Uint8Array): Promise<void> {
    this.#alive();
    const k = this.#key(key);
    try {
      await this.db.remove(k);
    } catch (e) {
      throw ioError(`lmdb delete in partition ${this.partition}`, e);
    }
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#alive();
    if (!Array.isArray(ops)) throw new KvError('KV_BAD_ARGUMENT', 'ops must be an array');
    // Validate (and copy) everything first so a bad op writes nothing.
    const ready = ops.map((op) => {
      if (op.type === 'put') return { put: true, key: this.#key(op.key), value: this.#value(op.value) };
      if (op.type === 'delete') return { put: false, key: this.#key(op.key), value: EMPTY };
      throw new KvError('KV_BAD_ARGUMENT', `unknown batch op type ${String((op as { type: unknown }).type)}`);
    });
    if (ready.length === 0) return;
    try {
      // db.batch runs the callback inside one write transaction: the ops are
      // applied in order and commit (and, for `always`, sync) together.
      await this.db.batch(() => {
        for (const op of ready) {
          if (op.put) void this.db.put(op.key, op.value);
          else void this.db.remove(op.key);
        }
      });
    } catch (e) {
      throw ioError(`lmdb batch in partition ${this.partition}`, e);
    }
  }

  async fold(visit: (key: Uint8Array, value: Uint8Array) => boolean | void, options?: FoldOptions): Promise<number> {
    this.#alive();
    if (typeof visit !== 'function') throw new KvError('KV_BAD_ARGUMENT', 'visit must be a function');
    const keysOnly = options?.keysOnly === true;
    // snapshot: one read transaction for the whole iteration, so writes made
    // while we yield to the event loop are not seen. Keys come back in LMDB's
    // order, which for binary keys is memcmp order.
    const range = keysOnly ? this.db.getKeys({ snapshot: true }) : this.db.getRange({ snapshot: true });
    const iterator = range[Symbol.iterator]() as Iterator<Buffer | { key: Buffer; value: Buffer }>;
    let visited = 0;
    try {
      for (;;) {
        if (visited > 0 && visited % FOLD_YIELD_EVERY === 0) {
          // Long folds must not starve the node's sockets and timers.
          await nextTurn();
          this.#alive();
        }
        const next = iterator.next();
        if (next.done === true) break;
        visited++;
        const more = keysOnly
          ? visit(next.value as Buffer, EMPTY)
          : visit((next.value as { key: Buffer }).key, (next.value as { value: Buffer }).value);
        if (more === false) break;
      }
    } finally {
      // Ends the read transaction when we stop early. After a close or drop
      // mid-fold the environment is gone and there is nothing left to end;
      // the KV_CLOSED from #alive is the error worth reporting.
      try {
        iterator.return?.();
      } catch {
        // see above
      }
    }
    return visited;
  }

  count(): number {
    this.#alive();
    return (this.db.getStats() as { entryCount: number }).entryCount;
  }

  stats(): PartitionStats {
    this.#alive();
    const s = this.db.getStats() as {
      entryCount: number;
      pageSize: number;
      treeBranchPageCount: number;
      treeLeafPageCount: number;
      overflowPages: number;
      lastPageNumber: number;
      free: { entryCount: number; treeLeafPageCount: number; treeBranchPageCount: number; overflowPages: number };
    };
    // LMDB accounts in pages: live = pages of the main tree; dead = the rest
    // of the used file (free list and pages not yet reclaimed).
    const livePages = s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    const usedPages = s.lastPageNumber + 1;
    return {
      keys: s.entryCount,
      liveBytes: livePages * s.pageSize,
      deadBytes: Math.max(0, usedPages - livePages) * s.pageSize,
      extra: { pageSize: s.pageSize, usedPages, freeListEntries: s.free.entryCount },
    };
  }

  async sync(): Promise<void> {
    this.#alive();
    await this.#flush();
  }

  async #flush(): Promise<void> {
    try {
      // Wait for queued commits first, then force them to disk even under noSync.
      await this.db.committed;
      await new Promise<void>((resolve, reject) =>
        (this.db as unknown as LmdbExtras).sync((error) => (error ? reject(error) : resolve())),
      );
    } catch (e) {
      throw ioError(`lmdb sync of partition ${this.partition}`, e);
    }
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#open = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#closing = (async () => {
      // Flush writes made under none/interval so a clean close keeps them
      // even through an OS crash; under always they are synced already.
      try {
        if (this.durability !== 'always') await this.#flush();
      } finally {
        await this.db.close();
      }
    })();
    this.onClose(this, this.#closing);
    return this.#closing;
  }
}

class LmdbBackend implements StorageBackend {
  readonly #stores = new Map<number, Promise<LmdbPartitionStore>>();
  /** Stores whose open has resolved, to recognise them when they close. */
  readonly #opened = new Map<number, LmdbPartitionStore>();
  /** Closes in progress: a reopen or drop of the partition waits for them. */
  readonly #closing = new Map<number, Promise<void>>();
  #open = true;

  constructor(
    readonly capabilities: BackendCapabilities,
    private readonly dir: string,
    private readonly durability: Durability,
    private readonly syncIntervalMs: number,
  ) {}

  #path(partition: number): string {
    return join(this.dir, `p${partition}`);
  }

  open(partition: number): Promise<PartitionStore> {
    if (!this.#open) return Promise.reject(closed('lmdb backend'));
    let p: number;
    try {
      p = checkPartition(partition);
    } catch (e) {
      return Promise.reject(e);
    }
    // Remember the promise, not the store, so two concurrent opens share one env.
    const existing = this.#stores.get(p);
    if (existing !== undefined) return existing;
    const opening = this.#openEnv(p);
    this.#stores.set(p, opening);
    opening.catch(() => {
      if (this.#stores.get(p) === opening) this.#stores.delete(p);
    });
    return opening;
  }

  async #openEnv(p: number): Promise<LmdbPartitionStore> {
    // Never two environments on one directory: let a close finish first.
    await this.#closing.get(p)?.catch(() => undefined);
    const path = this.#path(p);
    let db: Db;
    try {
      await mkdir(path, { recursive: true });
      db = openLmdb<Buffer, Buffer>({
        path,
        encoding: 'binary',
        keyEncoding: 'binary',
        ...(this.durability === 'always' ? { overlappingSync: false } : { noSync: true }),
      });
    } catch (e) {
      throw ioError(`opening lmdb partition ${p} at ${path}`, e);
    }
    const store = new LmdbPartitionStore(p, db, this.capabilities, this.durability, this.syncIntervalMs, (s, done) => {
      // Forget the store at once, so an open() during the close gets a new one.
      if (this.#opened.get(p) === s) {
        this.#opened.delete(p);
        this.#stores.delete(p);
      }
      this.#closing.set(p, done);
      const forget = (): void => {
        if (this.#closing.get(p) === done) this.#closing.delete(p);
      };
      done.then(forget, forget);
    });
    this.#opened.set(p, store);
    return store;
  }

  async drop(partition: number): Promise<void> {
    if (!this.#open) throw closed('lmdb backend');
    const p = checkPartition(partition);
    const store = this.#stores.get(p);
    if (store !== undefined) await (await store.catch(() => undefined))?.close();
    await this.#closing.get(p)?.catch(() => undefined);
    await rm(this.#path(p), { recursive: true, force: true });
  }

  async partitions(): Promise<number[]> {
    if (!this.#open) throw closed('lmdb backend');
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError(`listing ${this.dir}`, e);
    }
    return names
      .map((n) => DIR_PATTERN.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    const stores = [...this.#stores.values()];
    await Promise.all(stores.map(async (s) => (await s.catch(() => undefined))?.close()));
    await Promise.all([...this.#closing.values()].map((c) => c.catch(() => undefined)));
  }
}

/** Creates an lmdb backend whose partitions live under `options.dir`. */
export const createLmdbBackend = async (options: LmdbBackendOptions): Promise<StorageBackend> => {
  if (options === null || typeof options !== 'object' || typeof options.dir !== 'string' || options.dir === '') {
    throw new KvError('KV_BAD_ARGUMENT', 'the lmdb backend needs options.dir');
  }
  const durability = options.durability ?? 'none';
  if (durability !== 'none' && durability !== 'interval' && durability !== 'always') {
    throw new KvError('KV_BAD_ARGUMENT', `unknown durability '${String(durability)}'`);
  }
  const syncIntervalMs = options.syncIntervalMs ?? LMDB_DEFAULT_SYNC_INTERVAL_MS;
  if (!Number.isInteger(syncIntervalMs) || syncIntervalMs < 1) {
    throw new KvError('KV_BAD_ARGUMENT', 'syncIntervalMs must be a positive integer');
  }
  const maxValueBytes = options.maxValueBytes ?? LMDB_MAX_VALUE_BYTES;
  if (!Number.isInteger(maxValueBytes) || maxValueBytes < 1) {
    throw new KvError('KV_BAD_ARGUMENT', 'maxValueBytes must be a positive integer');
  }
  try {
    await mkdir(options.dir, { recursive: true });
  } catch (e) {
    throw ioError(`creating ${options.dir}`, e);
  }
  const capabilities: BackendCapabilities = {
    name: 'lmdb',
    persistent: true,
    syncGet: true,
    orderedFold: true,
    snapshotFold: true,
    durability: ['none', 'interval', 'always'],
    maxKeyBytes: LMDB_MAX_KEY_BYTES,
    maxValueBytes,
  };
  return new LmdbBackend(capabilities, options.dir, durability, syncIntervalMs);
};

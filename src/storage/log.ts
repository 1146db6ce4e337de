/**
 * The `log` storage backend: a Bitcask-style append-only log per partition,
 * implemented natively (native/log_*.cc). This file validates arguments
 * (TypeError before anything reaches C++), turns native error codes into
 * `KvError`s, and turns group-commit notifications into resolved promises.
 *
 * Layout: `<dir>/p<partition>/<rank>.data` (+ `.hint`), see native/log_format.h.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KvError, isErrorCode } from '../errors.js';
import { nativeLog, type LogDurability, type LogFoldHandle, type LogHandle, type LogSharedSyncStats } from '../native/addon.js';
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

export const LOG_MAX_KEY_BYTES = 65535;
export const LOG_MAX_VALUE_BYTES = 64 * 1024 * 1024;
const HEADER_BYTES = 19;
const MIN_FILE_BYTES = 4096;
// Offsets are u32 and a file may overshoot its limit by one record.
const MAX_FILE_BYTES = 2 ** 32 - (HEADER_BYTES + LOG_MAX_KEY_BYTES + LOG_MAX_VALUE_BYTES) - 1;

export interface LogBackendOptions extends BackendOptions {
  /** Data files rotate once they would pass this size (default 256 MiB). */
  readonly maxFileBytes?: number;
  /** A closed file is merged once this fraction of it is dead (default 0.5). */
  readonly mergeThreshold?: number;
  /** Merge in the background when files pass the threshold (default true). */
  readonly autoMerge?: boolean;
  /** How often autoMerge looks for candidates (default 10 s). */
  readonly mergeCheckIntervalMs?: number;
}

export const LOG_CAPABILITIES: BackendCapabilities = {
  name: 'log',
  persistent: true,
  syncGet: true,
  orderedFold: false,
  snapshotFold: true,
  durability: ['none', 'interval', 'always'],
  maxKeyBytes: LOG_MAX_KEY_BYTES,
  maxValueBytes: LOG_MAX_VALUE_BYTES,
};

const durabilityCode: Readonly<Record<Durability, LogDurability>> = { none: 0, interval: 1, always: 2 };

/** Native errors carry `code`; anything else is a bug surfaced as KV_INTERNAL. */
const toKvError = (e: unknown): unknown => {
  if (e instanceof KvError || e instanceof TypeError || e instanceof RangeError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  return new KvError(isErrorCode(code) ? code : 'KV_INTERNAL', message, { cause: e });
};

const bytesArg = (name: string, v: unknown): Uint8Array => {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or Buffer`);
  return v;
};

const keyArg = (v: unknown): Uint8Array => {
  const key = bytesArg('key', v);
  if (key.length > LOG_MAX_KEY_BYTES) {
    throw new KvError('KV_TOO_LARGE', `key of ${key.length} bytes exceeds ${LOG_MAX_KEY_BYTES}`);
  }
  return key;
};

const valueArg = (v: unknown): Uint8Array => {
  const value = bytesArg('value', v);
  if (value.length > LOG_MAX_VALUE_BYTES) {
    throw new KvError('KV_TOO_LARGE', `value of ${value.length} bytes exceeds ${LOG_MAX_VALUE_BYTES}`);
  }
  return value;
};

const resolved: Promise<void> = Promise.resolve();
const emptyValue = new Uint8Array(0);

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface StoreConfig {
  readonly dir: string;
  readonly partition: number;
  readonly durability: Durability;
  readonly syncIntervalMs: number;
  readonly sharedSync: boolean;
  readonly maxFileBytes: number;
  readonly mergeThreshold: number;
  readonly autoMerge: boolean;
  readonly mergeCheckIntervalMs: number;
  /** Told when close starts, with the promise of its end (so a reopen can wait for it). */
  readonly onClosing: (partition: number, done: Promise<void>) => void;
}

/** One open log partition. Extra over PartitionStore: getInto, merge, mergeCandidates. */
export class LogPartitionStore implements PartitionStore {
  readonly partition: number;
  readonly durability: Durability;
  private readonly handle: LogHandle;
  private readonly config: StoreConfig;
  // Writes waiting for an fdatasync, in sequence order.
  private waiters: Waiter[] = [];
  private waiterHead = 0;
  private syncedSeq = 0;
  private readBuf: Buffer = Buffer.alloc(64 * 1024);
  private readonly keyBuf: Buffer = Buffer.alloc(LOG_MAX_KEY_BYTES);
  private registered: Uint8Array;
  private closed = false;
  private closing: Promise<void> | undefined;
  private merging: Promise<number> | undefined;
  private mergeTimer: NodeJS.Timeout | undefined;

  /** Opens (recovering off the JS thread) one partition; `createLogBackend(...).open(p)` is the usual way. */
  static async open(config: StoreConfig): Promise<LogPartitionStore> {
    // The sync callback needs the store, which needs the handle: late-bind it.
    let store: LogPartitionStore | undefined;
    let handle: LogHandle;
    try {
      handle = await nativeLog.logOpen(
        config.dir,
        config.maxFileBytes,
        durabilityCode[config.durability],
        config.syncIntervalMs,
        config.mergeThreshold,
        (seq, code, message) => store?.onSync(seq, code, message),
        config.sharedSync,
      );
    } catch (e) {
      throw toKvError(e);
    }
    store = new LogPartitionStore(config, handle);
    return store;
  }

  /**
   * `put`, finished before it returns, for durability `none` and `interval`
   * (a write then has nothing to wait for): lets the node's write paths skip
   * a promise per write. Undefined with `always`, where a write waits for its
   * sync. Throws a KvError. Not part of PartitionStore.
   */
  readonly putSync: ((key: Uint8Array, value: Uint8Array) => void) | undefined;

  private constructor(config: StoreConfig, handle: LogHandle) {
    this.putSync =
      config.durability === 'always'
        ? undefined
        : (key, value) => {
            this.append(key, value);
          };
    this.config = config;
    this.partition = config.partition;
    this.durability = config.durability;
    this.handle = handle;
    nativeLog.logSetReadBuffer(this.handle, this.readBuf);
    nativeLog.logSetKeyBuffer(this.handle, this.keyBuf);
    this.registered = this.readBuf;
    if (config.autoMerge) {
      this.mergeTimer = setInterval(() => this.autoMerge(), config.mergeCheckIntervalMs);
      this.mergeTimer.unref();
    }
  }

  private check(): void {
    if (this.closed) throw new KvError('KV_CLOSED', `partition ${this.partition} is closed`);
  }

  private onSync(seq: number, code: string | null, message: string): void {
    const error = code === null ? undefined : new KvError(isErrorCode(code) ? code : 'KV_IO_ERROR', message);
    if (error === undefined && seq > this.syncedSeq) this.syncedSeq = seq;
    const ws = this.waiters;
    let i = this.waiterHead;
    while (i < ws.length && ws[i]!.seq <= seq) {
      const w = ws[i++]!;
      if (error === undefined) w.resolve();
      else w.reject(error);
    }
    if (i === ws.length) {
      this.waiters = [];
      this.waiterHead = 0;
    } else if (i > 1024 && i * 2 > ws.length) {
      this.waiters = ws.slice(i);
      this.waiterHead = 0;
    } else {
      this.waiterHead = i;
    }
  }

  private waitFor(seq: number): Promise<void> {
    if (seq <= this.syncedSeq) return resolved;
    return new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** Resolves per the durability mode once a write with this sequence number is in. */
  private written(seq: number): Promise<void> {
    if (this.durability !== 'always') return resolved;
    if (!this.syncQueued) {
      // One fdatasync request per wave of writers: writers resumed by the
      // last sync all write before this microtask runs, and share the next.
      this.syncQueued = true;
      queueMicrotask(this.requestSync);
    }
    return this.waitFor(seq);
  }

  private syncQueued = false;
  private readonly requestSync = (): void => {
    this.syncQueued = false;
    // A close that began meanwhile has already asked for its own sync.
    if (!this.closed) nativeLog.logSync(this.handle);
  };

  getSync(key: Uint8Array): Uint8Array | undefined {
    this.check();
    keyArg(key);
    if (this.registered !== this.readBuf) {
      nativeLog.logSetReadBuffer(this.handle, this.readBuf);
      this.registered = this.readBuf;
    }
    let n: number;
    try {
      // The key travels through a registered buffer: cheaper than handing
      // the addon a typed array to inspect (lmdb-js does the same).
      this.keyBuf.set(key);
      n = nativeLog.logGetFast(this.handle, key.length);
      if (n < 0) return undefined;
      if (n > this.readBuf.length) {
        this.readBuf = Buffer.alloc(2 ** Math.ceil(Math.log2(n)));
        nativeLog.logSetReadBuffer(this.handle, this.readBuf);
        this.registered = this.readBuf;
        n = nativeLog.logGetFast(this.handle, key.length);
        if (n < 0) return undefined;
      }
    } catch (e) {
      throw toKvError(e);
    }
    const out = Buffer.allocUnsafe(n);
    this.readBuf.copy(out, 0, 0, n);
    return out;
  }

  /**
   * The fast read path: copies the value into `out` and returns its length,
   * or -1 when absent. When the value is longer than `out`, nothing is copied
   * and the (larger) length is returned: retry with a bigger buffer. Reuse
   * one `out` across calls (registering a new buffer costs a native call).
   */
  getInto(key: Uint8Array, out: Uint8Array): number {
    this.check();
    keyArg(key);
    bytesArg('out', out);
    try {
      if (this.registered !== out) {
        nativeLog.logSetReadBuffer(this.handle, out);
        this.registered = out;
      }
      this.keyBuf.set(key);
      return nativeLog.logGetFast(this.handle, key.length);
    } catch (e) {
      throw toKvError(e);
    }
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getSync(key));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    try {
      return this.written(this.append(key, value));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Checks and appends a record; its write sequence number. Throws a KvError. */
  private append(key: Uint8Array, value: Uint8Array): number {
    try {
      this.check();
      keyArg(key);
      valueArg(value);
      return nativeLog.logPut(this.handle, key, value);
    } catch (e) {
      throw toKvError(e);
    }
  }

  delete(key: Uint8Array): Promise<void> {
    try {
      this.check();
      keyArg(key);
      return this.written(nativeLog.logDelete(this.handle, key));
    } catch (e) {
      return Promise.reject(toKvError(e));
    }
  }

  batch(ops: readonly BatchOp[]): Promise<void> {
    try {
      this.check();
      if (!Array.isArray(ops)) throw new TypeError('ops must be an array');
      if (ops.length === 0) return resolved;
      let total = 0;
      for (const op of ops as readonly unknown[]) {
        if (typeof op !== 'object' || op === null) throw new TypeError('each op must be an object');
        const o = op as { type?: unknown; key?: unknown; value?: unknown };
        if (o.type === 'put') total += HEADER_BYTES + keyArg(o.key).length + valueArg(o.value).length;
        else if (o.type === 'delete') total += HEADER_BYTES + keyArg(o.key).length;
        else throw new TypeError("op.type must be 'put' or 'delete'");
      }
      // Built directly in the on-disk layout; the addon fills CRC and timestamp.
      const buf = Buffer.allocUnsafe(total);
      let at = 0;
      for (const op of ops) {
        const kl = op.key.length;
        const vl = op.type === 'put' ? op.value.length : 0;
        buf[at + 4] = op.type === 'put' ? 0 : 1;
        buf.writeUInt16LE(kl, at + 13);
        buf.writeUInt32LE(vl, at + 15);
        buf.set(op.key, at + HEADER_BYTES);
        if (op.type === 'put') buf.set(op.value, at + HEADER_BYTES + kl);
        at += HEADER_BYTES + kl + vl;
      }
      return this.written(nativeLog.logBatch(this.handle, buf));
    } catch (e) {
      return Promise.reject(toKvError(e));
    }
  }

  async fold(visit: (key: Uint8Array, value: Uint8Array) => boolean | void, options?: FoldOptions): Promise<number> {
    this.check();
    if (typeof visit !== 'function') throw new TypeError('visit must be a function');
    const keysOnly = options?.keysOnly === true;
    let f: LogFoldHandle;
    try {
      f = nativeLog.logFoldOpen(this.handle, keysOnly);
    } catch (e) {
      throw toKvError(e);
    }
    let buf = Buffer.allocUnsafe(1 << 20);
    let visited = 0;
    try {
      for (;;) {
        let n: number;
        try {
          n = nativeLog.logFoldNext(f, buf);
        } catch (e) {
          throw toKvError(e);
        }
        if (n < 0) {
          buf = Buffer.allocUnsafe(-n);
          continue;
        }
        if (n === 0) return visited;
        let at = 0;
        for (let i = 0; i < n; i++) {
          const kl = buf.readUInt32LE(at);
          const vl = buf.readUInt32LE(at + 4);
          const key = buf.subarray(at + 8, at + 8 + kl);
          const value = keysOnly ? emptyValue : buf.subarray(at + 8 + kl, at + 8 + kl + vl);
          at += 8 + kl + vl;
          visited++;
          if (visit(key, value) === false) return visited;
        }
        // Let writes, merges and timers run between chunks: the snapshot holds.
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      nativeLog.logFoldClose(f);
    }
  }

  count(): number {
    this.check();
    return nativeLog.logCount(this.handle);
  }

  stats(): PartitionStats {
    this.check();
    const s = nativeLog.logStats(this.handle);
    return {
      keys: s.keys,
      liveBytes: s.liveBytes,
      deadBytes: s.deadBytes,
      extra: {
        files: s.files,
        merges: s.merges,
        recoveredRecords: s.recoveredRecords,
        droppedRecords: s.droppedRecords,
        keydirBytes: s.keydirBytes,
        hintFilesLoaded: s.hintFilesLoaded,
        truncatedBytes: s.truncatedBytes,
        writeSeq: s.writeSeq,
        syncedSeq: s.syncedSeq,
      },
    };
  }

  sync(): Promise<void> {
    try {
      this.check();
      return this.waitFor(nativeLog.logSync(this.handle));
    } catch (e) {
      return Promise.reject(toKvError(e));
    }
  }

  /** Closed files whose dead fraction passes mergeThreshold. */
  mergeCandidates(): number {
    this.check();
    return nativeLog.logMergeCandidates(this.handle);
  }

  /**
   * Merges closed files now, in the background; resolves with how many files
   * were merged. `all` merges every closed file that has any dead bytes.
   * A merge already running is returned instead of starting another.
   */
  merge(all = false): Promise<number> {
    try {
      this.check();
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.merging !== undefined) return this.merging;
    const p = nativeLog.logMerge(this.handle, all).then(
      (n) => n,
      (e: unknown) => Promise.reject(toKvError(e)),
    );
    this.merging = p.finally(() => {
      this.merging = undefined;
    });
    return this.merging;
  }

  private autoMerge(): void {
    if (this.closed || this.merging !== undefined) return;
    if (nativeLog.logMergeCandidates(this.handle) === 0) return;
    this.merge().catch((e: unknown) => {
      process.stderr.write(`ringkv log: partition ${this.partition}: merge failed: ${String(e)}\n`);
    });
  }

  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = this.closeNow();
    this.config.onClosing(this.partition, this.closing);
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    // Syncs first (so waiters resolve), then lets a running merge finish.
    const synced = this.sync();
    this.closed = true;
    if (this.mergeTimer !== undefined) clearInterval(this.mergeTimer);
    let failure: unknown;
    try {
      await synced;
    } catch (e) {
      failure = e;
    }
    try {
      if (this.merging !== undefined) await this.merging.catch(() => 0);
      // Stops the threads and releases the files even when the sync failed.
      await nativeLog.logClose(this.handle);
      if (failure !== undefined) throw failure;
    } catch (e) {
      throw toKvError(e);
    } finally {
      const left = this.waiters.slice(this.waiterHead);
      this.waiters = [];
      this.waiterHead = 0;
      const err = new KvError('KV_CLOSED', `partition ${this.partition} closed before its write was synced`);
      for (const w of left) w.reject(err);
    }
  }
}

const positiveInt = (name: string, v: unknown, min: number, max: number): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`${name} must be an integer in ${min}..${max}`);
  }
  return v;
};

const partitionDir = (dir: string, partition: number): string => join(dir, `p${partition}`);

/**
 * Counters of the process-wide periodic sync: with durability `interval` on
 * Linux, every partition of the process is covered by one syncfs per
 * filesystem per round instead of an fdatasync per partition.
 */
export const logSharedSyncStats = (): LogSharedSyncStats => nativeLog.logSharedSyncStats();

/** Opens the log backend rooted at `options.dir` (created if needed). */
export const createLogBackend = async (options: LogBackendOptions): Promise<StorageBackend> => {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (typeof options.dir !== 'string' || options.dir.length === 0) throw new TypeError('dir must be a non-empty string');
  const durability = options.durability ?? 'none';
  if (typeof durability !== 'string' || !Object.hasOwn(durabilityCode, durability)) {
    throw new TypeError("durability must be 'none', 'interval' or 'always'");
  }
  const syncIntervalMs = positiveInt('syncIntervalMs', options.syncIntervalMs ?? 1000, 1, 3_600_000);
  const sharedSync = options.sharedSync ?? true;
  if (typeof sharedSync !== 'boolean') throw new TypeError('sharedSync must be a boolean');
  const maxFileBytes = positiveInt('maxFileBytes', options.maxFileBytes ?? 256 * 1024 * 1024, MIN_FILE_BYTES, MAX_FILE_BYTES);
  const mergeThreshold = options.mergeThreshold ?? 0.5;
  if (typeof mergeThreshold !== 'number' || !(mergeThreshold > 0 && mergeThreshold <= 1)) {
    throw new TypeError('mergeThreshold must be a number in (0, 1]');
  }
  const autoMerge = options.autoMerge ?? true;
  if (typeof autoMerge !== 'boolean') throw new TypeError('autoMerge must be a boolean');
  const mergeCheckIntervalMs = positiveInt('mergeCheckIntervalMs', options.mergeCheckIntervalMs ?? 10_000, 1, 3_600_000);
  const dir = options.dir;
  await mkdir(dir, { recursive: true });

  const stores = new Map<number, Promise<LogPartitionStore>>();
  // Closes still running: the partition's lock is held until they end.
  const closings = new Map<number, Promise<void>>();
  const waitForClose = async (partition: number): Promise<void> => {
    for (let c = closings.get(partition); c !== undefined; c = closings.get(partition)) await c;
  };
  let closed = false;
  const checkOpen = (): void => {
    if (closed) throw new KvError('KV_CLOSED', 'log backend is closed');
  };
  const partitionArg = (p: unknown): number => positiveInt('partition', p, 0, 2 ** 32 - 1);

  const backend: StorageBackend = {
    capabilities: LOG_CAPABILITIES,
    async open(partition: number): Promise<PartitionStore> {
      partitionArg(partition);
      checkOpen();
      for (;;) {
        const existing = stores.get(partition);
        if (existing !== undefined) return existing;
        if (!closings.has(partition)) break;
        await waitForClose(partition);
        checkOpen();
      }
      const opening = LogPartitionStore.open({
        dir: partitionDir(dir, partition),
        partition,
        durability,
        syncIntervalMs,
        sharedSync,
        maxFileBytes,
        mergeThreshold,
        autoMerge,
        mergeCheckIntervalMs,
        onClosing: (p, done) => {
          if (stores.get(p) === opening) stores.delete(p);
          const settled = done.then(
            () => undefined,
            () => undefined,
          );
          closings.set(p, settled);
          void settled.then(() => {
            if (closings.get(p) === settled) closings.delete(p);
          });
        },
      });
      // Concurrent opens of one partition share the recovery; a failed open is forgotten.
      stores.set(partition, opening);
      opening.catch(() => {
        if (stores.get(partition) === opening) stores.delete(partition);
      });
      return opening;
    },
    async drop(partition: number): Promise<void> {
      partitionArg(partition);
      checkOpen();
      const store = stores.get(partition);
      if (store !== undefined) await (await store.catch(() => undefined))?.close();
      await waitForClose(partition);
      await rm(partitionDir(dir, partition), { recursive: true, force: true });
    },
    async partitions(): Promise<number[]> {
      checkOpen();
      const found: number[] = [];
      for (const name of await readdir(dir)) {
        const m = /^p(\d+)$/.exec(name);
        if (m === null) continue;
        const p = Number(m[1]);
        // A partition holds data when any of its data files is non-empty.
        const files = await readdir(join(dir, name)).catch(() => [] as string[]);
        let bytes = 0;
        for (const f of files) {
          if (f.endsWith('.data')) bytes += (await stat(join(dir, name, f)).catch(() => ({ size: 0 }))).size;
        }
        if (bytes > 0) found.push(p);
      }
      return found.sort((a, b) => a - b);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([...stores.values()].map(async (s) => (await s.catch(() => undefined))?.close()));
    },
  };
  return backend;
};

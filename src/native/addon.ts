/**
 * The whole native surface, typed. Nothing else in ringkv loads the addon.
 * Arguments are validated here (TypeError before C++ sees them); the addon
 * re-checks types so that a direct call with garbage throws instead of
 * crashing.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';

export interface NativeAddon {
  hashHi32(key: Uint8Array): number;
  partitionOf(key: Uint8Array, qBits: number): number;
  hashInto(key: Uint8Array, out: Uint8Array, offset: number): void;
  hashBatch(keys: Uint8Array, offsets: Uint32Array, out: Uint8Array): number;
  crc32c(data: Uint8Array, init?: number): number;
  crc32cPortable(data: Uint8Array, init?: number): number;
  crc32cImpl(): string;
  // The log engine registers its own functions; see src/storage/log.ts.
  readonly [name: string]: unknown;
}

const load = (): NativeAddon => {
  const root = packageRoot();
  const candidates = [join(root, 'build', 'Release', 'ringkv.node'), join(root, 'build', 'Debug', 'ringkv.node')];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(`ringkv: native addon not built (looked in ${candidates.join(', ')}); run \`npm run build:native\``);
  }
  return createRequire(import.meta.url)(found) as NativeAddon;
};

export const addon: NativeAddon = load();

const bytes = (name: string, v: unknown): Uint8Array => {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or Buffer`);
  return v;
};

/** Top 32 bits of xxh3-64(key): enough to pick a partition, no BigInt. */
export const hashHi32 = (key: Uint8Array): number => addon.hashHi32(bytes('key', key));

/** The partition of `key` in a ring of 2^qBits partitions. */
export const partitionOf = (key: Uint8Array, qBits: number): number => {
  if (!Number.isInteger(qBits) || qBits < 1 || qBits > 32) throw new TypeError('qBits must be an integer in 1..32');
  return addon.partitionOf(bytes('key', key), qBits);
};

/**
 * `partitionOf` without the TypeScript-side argument checks, for a hot path
 * whose caller has already validated `qBits` once (a Replica at construction)
 * and passes keys the wire decoder produced. A bad argument here is a bug of
 * the caller; the addon still refuses it with a TypeError.
 */
export const partitionOfUnchecked = (key: Uint8Array, qBits: number): number => addon.partitionOf(key, qBits);

/** Writes xxh3-64(key), little-endian, at out[offset..offset+8). */
export const hashInto = (key: Uint8Array, out: Uint8Array, offset = 0): void => {
  bytes('key', key);
  bytes('out', out);
  if (!Number.isInteger(offset) || offset < 0 || offset + 8 > out.length) throw new RangeError('offset out of range');
  addon.hashInto(key, out, offset);
};

const scratch = Buffer.alloc(8);

/** xxh3-64(key) as a bigint (allocates; prefer hashHi32/hashInto on hot paths). */
export const hash64 = (key: Uint8Array): bigint => {
  addon.hashInto(bytes('key', key), scratch, 0);
  return scratch.readBigUInt64LE(0);
};

/**
 * Hashes many keys in one native call. `keys` is their concatenation and
 * `offsets` holds n+1 boundaries; returns n little-endian u64 hashes.
 */
export const hashBatch = (keys: Uint8Array, offsets: Uint32Array, out?: Buffer): Buffer => {
  bytes('keys', keys);
  if (!(offsets instanceof Uint32Array)) throw new TypeError('offsets must be a Uint32Array');
  const n = Math.max(0, offsets.length - 1);
  const target = out ?? Buffer.allocUnsafe(n * 8);
  if (target.length < n * 8) throw new RangeError('out is too small');
  addon.hashBatch(keys, offsets, target);
  return target;
};

/** CRC32C (Castagnoli) of `data`, extending `init`. */
export const crc32c = (data: Uint8Array, init = 0): number => {
  if (!Number.isInteger(init) || init < 0 || init > 0xffffffff) throw new TypeError('init must be a u32');
  return addon.crc32c(bytes('data', data), init);
};

// ---- log storage engine (native/log_*.cc) ----

declare const logHandleBrand: unique symbol;
declare const logFoldBrand: unique symbol;
/** An open log partition inside the addon (an N-API External). */
export type LogHandle = { readonly [logHandleBrand]: true };
/** A fold in progress: a snapshot of the keydir plus references to its files. */
export type LogFoldHandle = { readonly [logFoldBrand]: true };

/** Durability as the addon numbers it: 0 none, 1 interval, 2 always. */
export type LogDurability = 0 | 1 | 2;

/** Counters of one log partition (all exact). */
export interface LogNativeStats {
  readonly keys: number;
  readonly liveBytes: number;
  readonly deadBytes: number;
  readonly files: number;
  readonly merges: number;
  readonly recoveredRecords: number;
  readonly droppedRecords: number;
  readonly keydirBytes: number;
  readonly hintFilesLoaded: number;
  readonly truncatedBytes: number;
  /** Sequence number of the last write. */
  readonly writeSeq: number;
  /** Every write up to this sequence number is on stable storage. */
  readonly syncedSeq: number;
}

/** The process-wide periodic sync of `interval` partitions (one syncfs per filesystem per round, Linux). */
export interface LogSharedSyncStats {
  /** Rounds that found at least one partition with unsynced writes. */
  readonly rounds: number;
  readonly syncfsCalls: number;
  /** Partitions covered, summed over rounds. */
  readonly storeSyncs: number;
  readonly errors: number;
}

/**
 * The log engine's native functions. Only src/storage/log.ts calls them, after
 * validating every argument; the addon re-checks types (TypeError) and throws
 * Errors whose `code` is one of KV_IO_ERROR, KV_CORRUPTION, KV_CLOSED,
 * KV_TOO_LARGE, KV_BAD_ARGUMENT.
 */
export interface NativeLog {
  /**
   * Opens the partition in `dir`, recovering it on a worker thread (hints or
   * a scan, torn tail cut), and resolves with its handle. `onSync(seq, code, message)` is
   * called on the JS thread after each fdatasync round someone waits for:
   * every write with sequence number <= seq is then on stable storage (or
   * `code` says why not).
   */
  logOpen(
    dir: string,
    maxFileBytes: number,
    durability: LogDurability,
    syncIntervalMs: number,
    mergeThreshold: number,
    onSync: (seq: number, code: string | null, message: string) => void,
    /** Interval rounds by the process-wide syncfs (default true; Linux only). */
    sharedSync?: boolean,
  ): Promise<LogHandle>;
  /**
   * Appends a record; returns the write's sequence number. Nothing is synced
   * here: with durability `always` call logSync after a wave of writes (one
   * request covers them all: group commit).
   */
  logPut(h: LogHandle, key: Uint8Array, value: Uint8Array): number;
  /** Appends a tombstone when the key exists; returns the sequence number to wait for. */
  logDelete(h: LogHandle, key: Uint8Array): number;
  /** Records in the on-disk layout with CRC and timestamp blank (filled in place). */
  logBatch(h: LogHandle, records: Uint8Array): number;
  /** A copy of the value, or undefined. */
  logGet(h: LogHandle, key: Uint8Array): Buffer | undefined;
  /** The buffer logGetInto copies values into (kept alive by the addon). */
  logSetReadBuffer(h: LogHandle, buf: Uint8Array): void;
  /** -1 when absent, else the value's length; copied only when it fits the read buffer. */
  logGetInto(h: LogHandle, key: Uint8Array): number;
  /** The buffer logGetFast reads its key from (kept alive by the addon). */
  logSetKeyBuffer(h: LogHandle, buf: Uint8Array): void;
  /** logGetInto with the key already in the key buffer: the hot read path (three N-API calls). */
  logGetFast(h: LogHandle, keyLength: number): number;
  /** Requests an fdatasync of everything written; returns the sequence number it covers. */
  logSync(h: LogHandle): number;
  logCount(h: LogHandle): number;
  logStats(h: LogHandle): LogNativeStats;
  logSharedSyncStats(): LogSharedSyncStats;
  /** Stops the threads, syncs, writes the active file's hint, unmaps (on a worker thread). Calls made after it throw KV_CLOSED. */
  logClose(h: LogHandle): Promise<void>;
  logFoldOpen(h: LogHandle, keysOnly: boolean): LogFoldHandle;
  /** Fills buf with [u32 keyLen][u32 valueLen][key][value]...; returns the count, 0 at the end, -(bytes needed) when one entry does not fit. */
  logFoldNext(f: LogFoldHandle, buf: Uint8Array): number;
  logFoldClose(f: LogFoldHandle): void;
  /** Merges closed files past the threshold (or, with `all`, every closed file with dead bytes); resolves with the number of files merged. */
  logMerge(h: LogHandle, all: boolean): Promise<number>;
  /** Closed files whose dead fraction passes the threshold. */
  logMergeCandidates(h: LogHandle): number;
}

export const nativeLog: NativeLog = addon as unknown as NativeLog;

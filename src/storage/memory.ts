/**
 * The `memory` backend: every partition is a MemoryTable in this process
 * (memory_table.ts: a Map from key to slot, values in slabs off the garbage
 * collector's way, an overwrite reusing the key's spare region).
 *
 * It is the reference implementation of the contract and the store the
 * simulated cluster runs on. Nothing survives the process; data does survive
 * closing and reopening a partition of the same backend object, as it would
 * on a disk, so handoff and restart paths behave alike in tests. Keys are
 * identified by their latin1 string: one char per byte, so the string is a
 * lossless, cheap identity and JS string order equals unsigned byte order.
 */
import { KvError } from '../errors.js';
import { MemoryTable } from './memory_table.js';
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

export interface MemoryBackendOptions extends Partial<BackendOptions> {
  readonly maxKeyBytes?: number;
  readonly maxValueBytes?: number;
}

export const MEMORY_MAX_KEY_BYTES = 65_535;
export const MEMORY_MAX_VALUE_BYTES = 16 * 1024 * 1024;

/** Entries visited between yields to the event loop during a fold. */
const FOLD_YIELD_EVERY = 4096;

const EMPTY = Buffer.alloc(0);

const closed = closedError;
const bytes = bytesArg;
const checkPartition = partitionArg;

class MemoryPartitionStore implements PartitionStore {
  #open = true;

  constructor(
    readonly partition: number,
    private readonly table: MemoryTable,
    private readonly caps: BackendCapabilities,
    private readonly onClose: (store: MemoryPartitionStore) => void,
  ) {}

  #alive(): void {
    if (!this.#open) throw closed(`partition ${this.partition}`);
  }

  #key(key: unknown): Uint8Array {
    const k = bytes('key', key);
    // LMDB cannot store an empty key; refusing it here too keeps an app that
    // was tested on memory from failing later on a disk backend.
    if (k.length === 0) throw new KvError('KV_BAD_ARGUMENT', 'key must not be empty');
    if (k.length > this.caps.maxKeyBytes) {
      throw new KvError('KV_TOO_LARGE', `key is ${k.length} bytes, max ${this.caps.maxKeyBytes}`);
    }
    return k;
  }

  #value(value: unknown): Uint8Array {
    const v = bytes('value', value);
    if (v.length > this.caps.maxValueBytes) {
      throw new KvError('KV_TOO_LARGE', `value is ${v.length} bytes, max ${this.caps.maxValueBytes}`);
    }
    return v;
  }

  #put(key: Uint8Array, value: Uint8Array): void {
    // The table copies the value, so the caller may reuse its buffer once put returns.
    this.table.put(asBuffer(key).toString('latin1'), value);
  }

  #delete(key: Uint8Array): void {
    this.table.delete(asBuffer(key).toString('latin1'));
  }

  getSync(key: Uint8Array): Uint8Array | undefined {
    this.#alive();
    const value = this.table.get(asBuffer(this.#key(key)).toString('latin1'));
    // A copy, so a caller mutating what it got cannot change the store.
    return value === undefined ? undefined : Buffer.from(value);
  }

  /**
   * The stored bytes themselves, no copy: for a caller that only reads them
   * before its next await (the node's GET path copies them into the reply
   * frame), or through one write of the key (a read-modify-write tells its
   * observer the bytes before and after). Never mutate the result. It stays
   * unchanged through the key's next write, not the one after (that may
   * reuse the region: MemoryTable). Not part of PartitionStore.
   */
  peekSync(key: Uint8Array): Uint8Array | undefined {
    this.#alive();
    return this.table.get(asBuffer(this.#key(key)).toString('latin1'));
  }

  /**
   * `put`, done before it returns (memory has nothing to wait for): lets the
   * node's write path finish a request with no promise at all. Copies the
   * value as put does. Not part of PartitionStore.
   */
  putSync(key: Uint8Array, value: Uint8Array): void {
    this.#alive();
    this.#put(this.#key(key), this.#value(value));
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.getSync(key);
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.#alive();
    this.#put(this.#key(key), this.#value(value));
  }

  async delete(key: Uint8Array): Promise<void> {
    this.#alive();
    this.#delete(this.#key(key));
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#alive();
    if (!Array.isArray(ops)) throw new KvError('KV_BAD_ARGUMENT', 'ops must be an array');
    // Validate everything first so a bad op leaves the partition untouched.
    for (const op of ops) {
      this.#key(op.key);
      if (op.type === 'put') this.#value(op.value);
      else if (op.type !== 'delete') throw new KvError('KV_BAD_ARGUMENT', `unknown batch op type ${String((op as { type: unknown }).type)}`);
    }
    for (const op of ops) {
      if (op.type === 'put') this.#put(op.key, op.value);
      else this.#delete(op.key);
    }
  }

  async fold(visit: (key: Uint8Array, value: Uint8Array) => boolean | void, options?: FoldOptions): Promise<number> {
    this.#alive();
    if (typeof visit !== 'function') throw new KvError('KV_BAD_ARGUMENT', 'visit must be a function');
    // The snapshot: views of the stored bytes, which stay unchanged while
    // the table is pinned (below), so later writes are ignored.
    // (Sorting the bare ids with the default comparator is about twice as
    // fast as sorting [id, value] pairs with a custom one.)
    const ids = [...this.table.index.keys()].sort();
    const values = ids.map((id) => this.table.get(id) as Buffer);
    const keysOnly = options?.keysOnly === true;
    let visited = 0;
    // Writes during the fold append (not into spare regions), so the snapshot's views keep their bytes.
    const table = this.table;
    table.pin();
    try {
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string;
        const value = values[i] as Buffer;
        if (visited > 0 && visited % FOLD_YIELD_EVERY === 0) {
          await nextTurn();
          this.#alive();
        }
        visited++;
        // Hand out copies: a visitor that mutates must not corrupt the store.
        if (visit(Buffer.from(id, 'latin1'), keysOnly ? EMPTY : Buffer.from(value)) === false) break;
      }
    } finally {
      table.unpin();
    }
    return visited;
  }

  count(): number {
    this.#alive();
    return this.table.size;
  }

  stats(): PartitionStats {
    this.#alive();
    return { keys: this.table.size, liveBytes: this.table.liveBytes, deadBytes: this.table.deadBytes };
  }

  async sync(): Promise<void> {
    this.#alive();
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.onClose(this);
  }

  /** Marks the store closed without the owner's bookkeeping (drop, backend close). */
  invalidate(): void {
    this.#open = false;
  }
}

class MemoryBackend implements StorageBackend {
  readonly #tables = new Map<number, MemoryTable>();
  readonly #stores = new Map<number, MemoryPartitionStore>();
  #open = true;

  constructor(readonly capabilities: BackendCapabilities) {}

  async open(partition: number): Promise<PartitionStore> {
    if (!this.#open) throw closed('memory backend');
    const p = checkPartition(partition);
    const existing = this.#stores.get(p);
    if (existing !== undefined) return existing;
    let table = this.#tables.get(p);
    if (table === undefined) {
      table = new MemoryTable();
      this.#tables.set(p, table);
    }
    const store = new MemoryPartitionStore(p, table, this.capabilities, (s) => {
      if (this.#stores.get(p) === s) this.#stores.delete(p);
    });
    this.#stores.set(p, store);
    return store;
  }

  async drop(partition: number): Promise<void> {
    if (!this.#open) throw closed('memory backend');
    const p = checkPartition(partition);
    this.#stores.get(p)?.invalidate();
    this.#stores.delete(p);
    this.#tables.delete(p);
  }

  async partitions(): Promise<number[]> {
    if (!this.#open) throw closed('memory backend');
    return [...this.#tables.entries()]
      .filter(([, t]) => t.size > 0)
      .map(([p]) => p)
      .sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    for (const s of this.#stores.values()) s.invalidate();
    this.#stores.clear();
    this.#tables.clear();
  }
}

const limit = (name: string, v: number | undefined, fallback: number): number => {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new KvError('KV_BAD_ARGUMENT', `${name} must be a positive integer`);
  return v;
};

/**
 * Creates an in-memory backend. `dir` is ignored. Only durability `none` is
 * honoured: asking for `interval` or `always` fails with KV_UNSUPPORTED rather
 * than silently promising a sync that cannot happen.
 */
export const createMemoryBackend = async (options: MemoryBackendOptions = {}): Promise<StorageBackend> => {
  const durability: Durability = options.durability ?? 'none';
  if (durability !== 'none') {
    throw new KvError('KV_UNSUPPORTED', `the memory backend cannot honour durability '${durability}'`);
  }
  const capabilities: BackendCapabilities = {
    name: 'memory',
    persistent: false,
    syncGet: true,
    orderedFold: true,
    snapshotFold: true,
    durability: ['none'],
    maxKeyBytes: limit('maxKeyBytes', options.maxKeyBytes, MEMORY_MAX_KEY_BYTES),
    maxValueBytes: limit('maxValueBytes', options.maxValueBytes, MEMORY_MAX_VALUE_BYTES),
  };
  return new MemoryBackend(capabilities);
};

/**
 * Simulated disks: each node's data lives in memory backends (src/storage/
 * memory.ts) that the world keeps across a simulated crash, so what a node
 * wrote survives its restart as it would on disk. A node's process sees
 * them through a FencedBackend; a crash fences it, so the dead process can
 * never write again (its pending operations simply never finish), while
 * the restarted process gets a fresh wrapper over the same data.
 */
import { KvError } from '../../errors.js';
import type { BatchOp, FoldOptions, PartitionStats, PartitionStore, StorageBackend } from '../../storage/backend.js';

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export class FencedBackend implements StorageBackend {
  private fenced = false;
  private readonly stores = new Map<number, PartitionStore>();

  constructor(private readonly inner: StorageBackend) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  /** From now on nothing this wrapper hands out touches the data. */
  fence(): void {
    this.fenced = true;
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  async open(partition: number): Promise<PartitionStore> {
    if (this.fenced) return never();
    const existing = this.stores.get(partition);
    if (existing !== undefined) return existing;
    const store = fencedStore(await this.inner.open(partition), () => this.fenced);
    this.stores.set(partition, store);
    return store;
  }

  drop(partition: number): Promise<void> {
    if (this.fenced) return never();
    this.stores.delete(partition);
    return this.inner.drop(partition);
  }

  partitions(): Promise<number[]> {
    return this.fenced ? never() : this.inner.partitions();
  }

  /**
   * A node closing its backend does not wipe the simulated disk (closing the
   * memory backend would); it only ends this process's access.
   */
  async close(): Promise<void> {
    this.fenced = true;
  }
}

const fencedStore = (inner: PartitionStore, fenced: () => boolean): PartitionStore => {
  const guard = <T>(f: () => Promise<T>): Promise<T> => (fenced() ? never() : f());
  const store: PartitionStore = {
    partition: inner.partition,
    get: (key: Uint8Array) => guard(() => inner.get(key)),
    put: (key: Uint8Array, value: Uint8Array) => guard(() => inner.put(key, value)),
    delete: (key: Uint8Array) => guard(() => inner.delete(key)),
    batch: (ops: readonly BatchOp[]) => guard(() => inner.batch(ops)),
    fold: (visit: (key: Uint8Array, value: Uint8Array) => boolean | void, options?: FoldOptions) => guard(() => inner.fold(visit, options)),
    count: (): number => inner.count(),
    stats: (): PartitionStats => inner.stats(),
    sync: () => guard(() => inner.sync()),
    close: async () => undefined,
  };
  if (inner.getSync !== undefined) {
    const getSync = inner.getSync.bind(inner);
    store.getSync = (key: Uint8Array) => {
      if (fenced()) throw new KvError('KV_CLOSED', 'the node that opened this store has crashed');
      return getSync(key);
    };
  }
  return store;
};

// The complete example from docs/backends.md ("Writing a storage backend"),
// kept here so the documented code is known to pass the conformance suite.
// Keep the two in step.
import { KvError } from '../../src/errors.js';
import type { BackendOptions, BatchOp, PartitionStore, StorageBackend } from '../../src/storage/backend.js';
// The index's runStorageBackendSuite loads the suite lazily, hence the await below.
import { createBackend, registerBackend, runStorageBackendSuite } from '../../src/storage/index.js';

// --- docs/backends.md example begins ---
const MAX_KEY_BYTES = 1024;
const MAX_VALUE_BYTES = 1024 * 1024;

function createTinyBackend(_options: BackendOptions): Promise<StorageBackend> {
  const tables = new Map<number, Map<string, Uint8Array>>(); // partition -> hex(key) -> value
  const stores = new Map<number, PartitionStore>();
  let backendOpen = true;

  const check = (bytes: Uint8Array, max: number, what: string): void => {
    if (!(bytes instanceof Uint8Array)) throw new KvError('KV_BAD_ARGUMENT', `${what} must be bytes`);
    if (bytes.length > max) throw new KvError('KV_TOO_LARGE', `${what} is ${bytes.length} bytes, max ${max}`);
  };
  const hex = (key: Uint8Array): string => {
    check(key, MAX_KEY_BYTES, 'key');
    return Buffer.from(key).toString('hex');
  };

  const makeStore = (partition: number, table: Map<string, Uint8Array>): PartitionStore => {
    let open = true;
    const alive = (): void => {
      if (!open || !backendOpen) throw new KvError('KV_CLOSED', `partition ${partition} is closed`);
    };
    const apply = (op: BatchOp): void => {
      if (op.type === 'put') table.set(hex(op.key), Uint8Array.from(op.value)); // copy: callers reuse buffers
      else table.delete(hex(op.key));
    };
    const store: PartitionStore & { invalidate(): void } = {
      partition,
      getSync(key) {
        alive();
        const v = table.get(hex(key));
        return v === undefined ? undefined : Uint8Array.from(v);
      },
      async get(key) {
        return store.getSync?.(key);
      },
      async put(key, value) {
        alive();
        check(value, MAX_VALUE_BYTES, 'value');
        apply({ type: 'put', key, value });
      },
      async delete(key) {
        alive();
        apply({ type: 'delete', key });
      },
      async batch(ops) {
        alive();
        for (const op of ops) {
          hex(op.key);
          if (op.type === 'put') check(op.value, MAX_VALUE_BYTES, 'value');
        }
        ops.forEach(apply);
      },
      async fold(visit, options) {
        alive();
        let visited = 0;
        for (const [k, v] of [...table.entries()]) {
          // the copy above is the snapshot
          visited++;
          if (visit(Buffer.from(k, 'hex'), options?.keysOnly ? new Uint8Array(0) : v) === false) break;
        }
        return visited;
      },
      count() {
        alive();
        return table.size;
      },
      stats() {
        alive();
        let liveBytes = 0;
        for (const [k, v] of table) liveBytes += k.length / 2 + v.length;
        return { keys: table.size, liveBytes, deadBytes: 0 };
      },
      async sync() {
        alive();
      },
      async close() {
        open = false;
        if (stores.get(partition) === store) stores.delete(partition);
      },
      invalidate() {
        open = false;
      },
    };
    return store;
  };

  const backend: StorageBackend = {
    capabilities: {
      name: 'tiny',
      persistent: false,
      syncGet: true,
      orderedFold: false,
      snapshotFold: true,
      durability: ['none'],
      maxKeyBytes: MAX_KEY_BYTES,
      maxValueBytes: MAX_VALUE_BYTES,
    },
    async open(partition) {
      if (!backendOpen) throw new KvError('KV_CLOSED', 'backend is closed');
      if (!Number.isInteger(partition) || partition < 0) throw new KvError('KV_BAD_ARGUMENT', 'bad partition');
      let store = stores.get(partition);
      if (store === undefined) {
        let table = tables.get(partition);
        if (table === undefined) tables.set(partition, (table = new Map()));
        store = makeStore(partition, table);
        stores.set(partition, store);
      }
      return store;
    },
    async drop(partition) {
      if (!backendOpen) throw new KvError('KV_CLOSED', 'backend is closed');
      (stores.get(partition) as { invalidate?: () => void } | undefined)?.invalidate?.();
      stores.delete(partition);
      tables.delete(partition);
    },
    async partitions() {
      if (!backendOpen) throw new KvError('KV_CLOSED', 'backend is closed');
      return [...tables].filter(([, t]) => t.size > 0).map(([p]) => p);
    },
    async close() {
      backendOpen = false;
    },
  };
  return Promise.resolve(backend);
}

registerBackend('tiny', createTinyBackend);
// --- docs/backends.md example ends ---

await runStorageBackendSuite('tiny (the docs example, via the registry)', (dir, o) => createBackend('tiny', { dir, ...o }));

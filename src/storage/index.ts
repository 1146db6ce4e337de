/**
 * The storage layer's public entry: the contract's types, the backends that
 * ship with ringkv, and a registry so configuration can name a backend
 * (`storage.backend: lmdb`) and a third party can add one by name.
 */
import { KvError } from '../errors.js';
import type { BackendFactory, BackendOptions, StorageBackend } from './backend.js';
import { createMemoryBackend } from './memory.js';
import { createLmdbBackend } from './lmdb.js';

export type {
  BackendCapabilities,
  BackendFactory,
  BackendOptions,
  BatchOp,
  Durability,
  FoldOptions,
  PartitionStats,
  PartitionStore,
  StorageBackend,
} from './backend.js';
export { createMemoryBackend, type MemoryBackendOptions } from './memory.js';
export { createLmdbBackend, type LmdbBackendOptions } from './lmdb.js';
export type { SuiteFactory, SuiteOptions } from './conformance.js';

/** Names ringkv ships; any other name must be registered first. */
export type BuiltinBackendName = 'log' | 'memory' | 'lmdb';

const NAME = /^[a-z][a-z0-9_-]{0,31}$/;

const registry = new Map<string, BackendFactory>([
  ['memory', (options) => createMemoryBackend(options)],
  ['lmdb', (options) => createLmdbBackend(options)],
  // Loaded on demand: the native log engine is optional at import time, and
  // this file must work before (and without) it.
  [
    'log',
    async (options) => {
      let mod: { createLogBackend: BackendFactory };
      try {
        mod = (await import('./log.js')) as { createLogBackend: BackendFactory };
      } catch (e) {
        // Typically the native addon is not built (or predates the log engine).
        throw new KvError('KV_UNSUPPORTED', `the log backend cannot be loaded: ${String((e as Error)?.message ?? e)}`, { cause: e });
      }
      return mod.createLogBackend(options);
    },
  ],
]);

/**
 * Makes `createBackend(name, …)` use `factory`. Replacing a name that is
 * already registered is refused unless `replace` is set, so a plug-in cannot
 * silently shadow a built-in.
 */
export const registerBackend = (name: string, factory: BackendFactory, options?: { readonly replace?: boolean }): void => {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new KvError('KV_BAD_ARGUMENT', `backend name must match ${NAME.source}, got ${JSON.stringify(name)}`);
  }
  if (typeof factory !== 'function') throw new KvError('KV_BAD_ARGUMENT', 'factory must be a function');
  if (registry.has(name) && options?.replace !== true) {
    throw new KvError('KV_CONFLICT', `a storage backend named '${name}' is already registered`);
  }
  registry.set(name, factory);
};

/** Names `createBackend` accepts right now, sorted. */
export const backendNames = (): string[] => [...registry.keys()].sort();

/** Creates the backend registered under `name`. */
export const createBackend = async (name: BuiltinBackendName | (string & {}), options: BackendOptions): Promise<StorageBackend> => {
  const factory = typeof name === 'string' ? registry.get(name) : undefined;
  if (factory === undefined) {
    throw new KvError('KV_BAD_ARGUMENT', `unknown storage backend ${JSON.stringify(name)}; known: ${backendNames().join(', ')}`);
  }
  return factory(options);
};

/**
 * The conformance suite (src/storage/conformance.ts), loaded on first call:
 * it imports uvu and fast-check, dev dependencies that a production import of
 * this module must not need. In a test file, `await` it at top level, or
 * import `runStorageBackendSuite` from './conformance.js' directly.
 */
export const runStorageBackendSuite = async (
  ...args: Parameters<typeof import('./conformance.js').runStorageBackendSuite>
): Promise<void> => {
  const mod = await import('./conformance.js');
  mod.runStorageBackendSuite(...args);
};

/**
 * Small durable cluster metadata (issue 6): the node's cluster ring and the
 * cursors of transfers in progress, in partition 1 of the hint backend
 * (hints use partition 0), so it survives restarts in production and in the
 * simulation alike. Everything is cached in memory; writes go through.
 */
import type { PartitionStore, StorageBackend } from '../storage/backend.js';

export const META_PARTITION = 1;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class MetaStore {
  private readonly cache = new Map<string, Uint8Array>();

  private constructor(private readonly store: PartitionStore) {}

  static async open(backend: StorageBackend): Promise<MetaStore> {
    const store = await backend.open(META_PARTITION);
    const m = new MetaStore(store);
    await store.fold((key, value) => void m.cache.set(fromUtf8.decode(key), Uint8Array.from(value)));
    return m;
  }

  get(key: string): Uint8Array | undefined {
    return this.cache.get(key);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.cache.set(key, value);
    await this.store.put(utf8.encode(key), value);
  }

  async delete(key: string): Promise<void> {
    if (!this.cache.delete(key)) return;
    await this.store.delete(utf8.encode(key));
  }

  getJson<T>(key: string): T | undefined {
    const b = this.cache.get(key);
    if (b === undefined) return undefined;
    try {
      return JSON.parse(fromUtf8.decode(b)) as T;
    } catch {
      return undefined;
    }
  }

  putJson(key: string, value: unknown): Promise<void> {
    return this.put(key, utf8.encode(JSON.stringify(value)));
  }
}

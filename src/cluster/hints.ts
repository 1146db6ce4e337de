/**
 * The durable hint store of a fallback node: one record per (intended owner,
 * partition, key) whose write this node accepted on the owner's behalf. The
 * object itself stays in the local Replica (as a Riak fallback vnode keeps
 * it); a hint only says "hand this key to that node".
 *
 * Record layout (partition 0 of a dedicated backend):
 *   key   = u16 BE len(target) | target (UTF-8) | u16 BE partition | data key
 *   value = empty
 *
 * The in-memory index mirrors the records (loaded by `open`), so counting and
 * listing pending hints never touches storage. Each record carries a
 * generation that every `add` bumps: delivery snapshots it before reading the
 * object and deletes the record only if it is unchanged after the owner's
 * ACK, so a write that arrives during delivery is never dropped with it.
 * `add` and `removeIfUnchanged` of one record run under a per-record lock so
 * the storage put and delete cannot reorder.
 */
import { KvError } from '../errors.js';
import type { NodeId, PartitionId } from '../core/types.js';
import type { PartitionStore, StorageBackend } from '../storage/backend.js';
import { KeyLock } from '../util/key_lock.js';

export interface Hint {
  readonly target: NodeId;
  readonly partition: PartitionId;
  readonly key: Uint8Array;
}

/** A pending hint with the generation `removeIfUnchanged` compares against. */
export interface PendingHint extends Hint {
  readonly generation: number;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);

/** The hint store lives in partition 0 of its backend. */
export const HINT_PARTITION = 0;

export const encodeHintKey = (target: NodeId, partition: PartitionId, key: Uint8Array): Uint8Array => {
  const t = utf8.encode(target);
  if (t.length === 0 || t.length > 0xffff) throw new KvError('KV_BAD_ARGUMENT', `hint target id must be 1..65535 bytes, got ${t.length}`);
  if (!Number.isInteger(partition) || partition < 0 || partition > 0xffff) {
    throw new KvError('KV_BAD_ARGUMENT', `hint partition must be a u16, got ${partition}`);
  }
  const out = new Uint8Array(4 + t.length + key.length);
  out[0] = t.length >>> 8;
  out[1] = t.length & 0xff;
  out.set(t, 2);
  out[2 + t.length] = partition >>> 8;
  out[3 + t.length] = partition & 0xff;
  out.set(key, 4 + t.length);
  return out;
};

/** The hint a record key names, or the reason it is not a hint record. */
export const decodeHintKey = (bytes: Uint8Array): Hint | string => {
  if (bytes.length < 4) return 'record key shorter than 4 bytes';
  const len = (bytes[0]! << 8) | bytes[1]!;
  if (len === 0) return 'empty target id';
  if (bytes.length < 4 + len) return `target length ${len} runs past the record key`;
  let target: string;
  try {
    target = utf8Strict.decode(bytes.subarray(2, 2 + len));
  } catch {
    return 'target id is not UTF-8';
  }
  const partition = (bytes[2 + len]! << 8) | bytes[3 + len]!;
  return { target, partition, key: bytes.slice(4 + len) };
};

const mapKey = (recordKey: Uint8Array): string => Buffer.from(recordKey.buffer, recordKey.byteOffset, recordKey.byteLength).toString('latin1');

interface Indexed {
  readonly hint: Hint;
  readonly recordKey: Uint8Array;
  generation: number;
}

export class HintStore {
  /** target → record key (latin1) → hint. */
  private readonly byTarget = new Map<NodeId, Map<string, Indexed>>();
  private readonly locks = new KeyLock();
  private generations = 0;
  private total = 0;

  private constructor(private readonly store: PartitionStore) {}

  /**
   * Opens the store and loads every record (hints survive restarts). Records
   * that do not decode are reported through `onBad` and left in place: a
   * newer version may understand them, and deleting data on a parse error
   * is how bugs turn into loss.
   */
  static async open(backend: StorageBackend, onBad: (why: string) => void = () => undefined): Promise<HintStore> {
    const store = await backend.open(HINT_PARTITION);
    const hs = new HintStore(store);
    const keys: Uint8Array[] = [];
    await store.fold((key) => void keys.push(key.slice()), { keysOnly: true });
    for (const k of keys) {
      const h = decodeHintKey(k);
      if (typeof h === 'string') onBad(h);
      else hs.index(h, k);
    }
    return hs;
  }

  private index(hint: Hint, recordKey: Uint8Array): Indexed {
    let m = this.byTarget.get(hint.target);
    if (m === undefined) {
      m = new Map();
      this.byTarget.set(hint.target, m);
    }
    const k = mapKey(recordKey);
    let e = m.get(k);
    if (e === undefined) {
      e = { hint, recordKey, generation: 0 };
      m.set(k, e);
      this.total++;
    }
    e.generation = ++this.generations;
    return e;
  }

  /** Records (durably, before resolving) that `key` must be handed to `target`. */
  add(target: NodeId, partition: PartitionId, key: Uint8Array): Promise<void> {
    const recordKey = encodeHintKey(target, partition, key);
    return this.locks.run(recordKey, async () => {
      const known = this.byTarget.get(target)?.has(mapKey(recordKey)) ?? false;
      // A known record is already durable; only its generation moves.
      if (!known) await this.store.put(recordKey, EMPTY);
      this.index({ target, partition, key: key.slice() }, recordKey);
    });
  }

  /**
   * Deletes the record if no `add` touched it since `hint` was listed.
   * Resolves true when it was deleted.
   */
  removeIfUnchanged(hint: PendingHint): Promise<boolean> {
    const recordKey = encodeHintKey(hint.target, hint.partition, hint.key);
    const k = mapKey(recordKey);
    return this.locks.run(recordKey, async () => {
      const m = this.byTarget.get(hint.target);
      const e = m?.get(k);
      if (m === undefined || e === undefined || e.generation !== hint.generation) return false;
      await this.store.delete(recordKey);
      // Re-check: the map entry is only ours to drop if nothing re-added it meanwhile (the lock says no, but be exact).
      if (m.get(k) === e && e.generation === hint.generation) {
        m.delete(k);
        this.total--;
        if (m.size === 0) this.byTarget.delete(hint.target);
      }
      return true;
    });
  }

  /** A hint for (partition, key) is pending for any target (anti-entropy must not reap a copy that will still travel). */
  pendingFor(partition: PartitionId, key: Uint8Array): boolean {
    for (const target of this.byTarget.keys()) {
      if (this.byTarget.get(target)!.has(mapKey(encodeHintKey(target, partition, key)))) return true;
    }
    return false;
  }

  /** Up to `limit` pending hints for `target`, in index order, with their generations. */
  pending(target: NodeId, limit = Infinity): readonly PendingHint[] {
    const m = this.byTarget.get(target);
    if (m === undefined) return [];
    const out: PendingHint[] = [];
    for (const e of m.values()) {
      if (out.length >= limit) break;
      out.push({ target: e.hint.target, partition: e.hint.partition, key: e.hint.key, generation: e.generation });
    }
    return out;
  }

  /** Targets with at least one pending hint, sorted by id. */
  targets(): readonly NodeId[] {
    return [...this.byTarget.keys()].sort();
  }

  count(target?: NodeId): number {
    return target === undefined ? this.total : (this.byTarget.get(target)?.size ?? 0);
  }

  /** Pending hints per target. */
  counts(): Readonly<Record<NodeId, number>> {
    const out: Record<NodeId, number> = {};
    for (const t of this.targets()) out[t] = this.byTarget.get(t)!.size;
    return out;
  }
}

/**
 * Partition transfer (issue 6): a node entering a partition's preference
 * list pulls the partition from a node that holds it, chunk by chunk, before
 * the partition switches to the next ring (core/ring_plan).
 *
 * - Pull, one chunk in flight per transfer: the receiver's pace is the flow
 *   control; at most `maxTransfers` run at once on a receiving node.
 * - A chunk holds keys strictly after a cursor, in byte order, so a transfer
 *   resumes from its last merged key after a restart of either side (the
 *   cursor is saved in the meta store after every chunk).
 * - Every chunk carries a checksum of its items; a mismatch drops the chunk
 *   and asks again.
 * - Items are merged (DVVSet sync under the key lock), so writes that reach
 *   the receiver directly during the move (double-writes) are never lost.
 */
import { decodeObject } from '../core/context_codec.js';
import * as RP from '../core/ring_plan.js';
import type { NodeId } from '../core/types.js';
import { KvError } from '../errors.js';
import { chunkChecksum } from '../../protocol/ring_plan.js';
import type { PeerReply, PeerRequest, TransferChunk, TransferFetch } from '../../protocol/peer_messages.js';
import type { Replica } from '../node/replica.js';
import type { NodeStats } from '../node/stats.js';
import type { TransferStatus } from './api.js';
import type { Clock } from './effects.js';
import type { MetaStore } from './meta.js';

export const DEFAULT_CHUNK_ITEMS = 128;
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Partitions whose key list a source keeps between chunks (a receiver pulls at most a few at once). */
const MAX_LISTED = 16;

export interface TransferDeps {
  readonly self: NodeId;
  readonly n: number;
  readonly replica: Replica;
  readonly meta: () => MetaStore;
  readonly clock: Clock;
  readonly stats: NodeStats;
  readonly request: (to: NodeId, request: PeerRequest, timeoutMs: number) => Promise<PeerReply>;
  /** Can this node fetch from `node` now (up, not removed)? */
  readonly usable: (node: NodeId) => boolean;
  readonly ring: () => RP.ClusterRing;
  /** The receiver finished partition `p`: record it in the ring. */
  readonly finished: (partition: number) => void;
  readonly maxTransfers: () => number;
  readonly peerTimeoutMs: number;
  readonly chunkItems?: number;
  readonly chunkBytes?: number;
  /** Bytes per second this node receives by transfer, all transfers together; 0 = unlimited. */
  readonly rateBytes?: () => number;
  readonly stopped: () => boolean;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/** One running transfer as this module tracks it: the status fields `ringkv status` shows (less the derived rate and ETA), plus when it (re)started and last moved. */
export interface TransferProgress extends Omit<TransferStatus, 'bytesPerSec' | 'etaMs'> {
  readonly startedMs: number;
  readonly updatedMs: number;
}

interface Saved {
  readonly plan: string;
  readonly after: string;
  readonly keys: number;
  readonly bytes: number;
}

const planId = (r: RP.ClusterRing): string => `${r.epoch}/${r.committer}`;
const progressKey = (p: number): string => `xfer/${p}`;

export class Transfers {
  private readonly running = new Map<number, TransferProgress>();
  /** Source side, unordered backends: each partition's sorted key list being served, and where the next chunk starts. */
  private readonly listed = new Map<number, { readonly keys: readonly Buffer[]; readonly next: number }>();
  /** When the byte budget spent so far is paid off (shared by every transfer into this node). */
  private paidUntilMs = 0;

  constructor(private readonly d: TransferDeps) {}

  get inProgress(): readonly TransferProgress[] {
    return [...this.running.values()].sort((a, b) => a.partition - b.partition);
  }

  /** Starts transfers into this node, up to the limit. Never rejects; returns the started runs. */
  tick(): Promise<void>[] {
    const started: Promise<void>[] = [];
    if (this.d.stopped()) return started;
    const ring = this.d.ring();
    if (ring.next === null) return started;
    for (const t of RP.pendingTransfers(ring, this.d.n)) {
      if (this.running.size >= this.d.maxTransfers()) break;
      if (t.target !== this.d.self || this.running.has(t.partition)) continue;
      const source = t.sources.find((x) => x !== this.d.self && this.d.usable(x));
      if (source === undefined) continue;
      started.push(this.run(t.partition, source, planId(ring)));
    }
    return started;
  }

  private async run(partition: number, source: NodeId, plan: string): Promise<void> {
    const now = this.d.clock.now();
    const meta = this.d.meta();
    const saved = meta.getJson<Saved>(progressKey(partition));
    const resume = saved !== undefined && saved.plan === plan ? saved : undefined;
    let after: Uint8Array = resume === undefined ? new Uint8Array(0) : Buffer.from(resume.after, 'hex');
    let progress: TransferProgress = {
      partition,
      source,
      target: this.d.self,
      keys: resume?.keys ?? 0,
      bytes: resume?.bytes ?? 0,
      keysTotal: 0,
      startedMs: now,
      updatedMs: now,
    };
    this.running.set(partition, progress);
    if (resume !== undefined) this.d.log('info', `transfer of partition ${partition} from ${source} resumes after ${progress.keys} keys`);
    try {
      for (;;) {
        if (this.d.stopped()) return;
        const ring = this.d.ring();
        // The plan changed under us: stop; the next tick starts what the new plan needs.
        if (planId(ring) !== plan || !RP.pendingTransfers(ring, this.d.n).some((t) => t.partition === partition && t.target === this.d.self)) return;
        const req: TransferFetch = {
          type: 'TRANSFER_FETCH',
          partition,
          after,
          maxItems: this.d.chunkItems ?? DEFAULT_CHUNK_ITEMS,
          maxBytes: this.d.chunkBytes ?? DEFAULT_CHUNK_BYTES,
        };
        const reply = await this.d.request(source, req, 4 * this.d.peerTimeoutMs);
        if (reply.type !== 'TRANSFER_CHUNK') throw new KvError('KV_INTERNAL', `TRANSFER_FETCH answered ${reply.type}`);
        if (chunkChecksum(reply.items) !== reply.checksum) {
          this.d.stats.add('transferChecksumFailures');
          throw new KvError('KV_CORRUPTION', `chunk of partition ${partition} from ${source} fails its checksum`);
        }
        let bytes = 0;
        const merges: Promise<unknown>[] = [];
        for (const it of reply.items) {
          if (this.d.replica.partitionOf(it.key) !== partition) throw new KvError('KV_CORRUPTION', `chunk of partition ${partition} holds a key of another partition`);
          const obj = decodeObject(it.object);
          if (!obj.ok) throw new KvError('KV_CORRUPTION', `transferred object does not decode: ${obj.reason}`);
          bytes += it.key.length + it.object.length;
          merges.push(this.d.replica.merge(Buffer.from(it.key), obj.value));
        }
        await Promise.all(merges);
        const lastKey = reply.items[reply.items.length - 1]?.key;
        if (lastKey !== undefined) after = Buffer.from(lastKey);
        progress = {
          ...progress,
          keys: progress.keys + reply.items.length,
          bytes: progress.bytes + bytes,
          keysTotal: reply.keysTotal,
          updatedMs: this.d.clock.now(),
        };
        this.running.set(partition, progress);
        this.d.stats.add('transferKeys', reply.items.length);
        this.d.stats.add('transferBytes', bytes);
        // After the last chunk too: a partition of one chunk is the common case of a small cluster.
        await this.pace(bytes);
        if (reply.last) break;
        await meta.putJson(progressKey(partition), { plan, after: Buffer.from(after).toString('hex'), keys: progress.keys, bytes: progress.bytes } satisfies Saved);
      }
      await meta.delete(progressKey(partition));
      this.d.stats.add('transfersCompleted');
      this.d.log('info', `transfer of partition ${partition} from ${source} done: ${progress.keys} keys, ${progress.bytes} bytes`);
      this.d.finished(partition);
    } finally {
      this.running.delete(partition);
    }
  }

  /**
   * Waits until `bytes` more fit the rate limit: a join must yield to the
   * foreground (each transferred byte costs the source a read, the receiver a
   * merge and a write, on the CPUs and disks that serve clients).
   */
  private pace(bytes: number): Promise<void> {
    const rate = this.d.rateBytes?.() ?? 0;
    if (!(rate > 0)) return Promise.resolve();
    const now = this.d.clock.now();
    // Idle time does not accumulate credit beyond one chunk's worth: the limit holds over any window.
    this.paidUntilMs = Math.max(this.paidUntilMs, now) + (bytes * 1000) / rate;
    const waitMs = this.paidUntilMs - now;
    if (waitMs < 1) return Promise.resolve();
    return new Promise((resolve) => void this.d.clock.setTimer(waitMs, resolve));
  }

  /**
   * The source side: the next chunk of `f.partition` after `f.after`.
   * A backend without ordered folds lists the whole partition to find what
   * follows the cursor; the sorted list is kept for the transfer's next chunk
   * (one fold per transfer, not per chunk: a partition of K keys cost K²/chunk
   * key visits). Keys written after the list was taken reach the receiver by
   * double-write, as every key before the cursor does.
   */
  async serveFetch(f: TransferFetch): Promise<TransferChunk> {
    const store = await this.d.replica.store(f.partition);
    const after = Buffer.from(f.after);
    const maxItems = Math.max(1, Math.min(f.maxItems, 0xffff));
    const ordered = this.d.replica.backend.capabilities.orderedFold;
    let keys: readonly Buffer[];
    let from = 0;
    let more = false;
    const cached = this.listed.get(f.partition);
    if (!ordered && cached !== undefined && after.length > 0 && cached.next > 0 && Buffer.compare(cached.keys[cached.next - 1]!, after) === 0) {
      keys = cached.keys;
      from = cached.next;
    } else {
      const found: Buffer[] = [];
      await store.fold(
        (key) => {
          if (after.length > 0 && Buffer.compare(key, after) <= 0) return true;
          if (ordered && found.length >= maxItems) {
            more = true;
            return false;
          }
          found.push(Buffer.from(key));
          return true;
        },
        { keysOnly: true },
      );
      keys = found.sort(Buffer.compare);
    }
    const items: { key: Uint8Array; object: Uint8Array }[] = [];
    let bytes = 0;
    let i = from;
    for (; i < keys.length; i++) {
      if (items.length >= maxItems || (items.length > 0 && bytes >= f.maxBytes)) break;
      const key = keys[i]!;
      const object = await store.get(key);
      if (object === undefined) continue; // deleted since the fold
      items.push({ key, object });
      bytes += key.length + object.length;
    }
    // The cursor the receiver sends next is the last item's key: resume at the key after it.
    const taken = items.length === 0 ? i : keys.indexOf(items[items.length - 1]!.key as Buffer, from) + 1;
    const last = !more && taken >= keys.length;
    if (!ordered) {
      this.listed.delete(f.partition);
      if (!last && items.length > 0) {
        this.listed.set(f.partition, { keys, next: taken });
        // A receiver that went away leaves its list behind: keep only the most recent few.
        while (this.listed.size > MAX_LISTED) this.listed.delete(this.listed.keys().next().value!);
      }
    }
    this.d.stats.add('transferServedKeys', items.length);
    return { type: 'TRANSFER_CHUNK', last, keysTotal: Math.min(store.count(), 0xffffffff), checksum: chunkChecksum(items), items };
  }
}

/**
 * Hinted handoff from this (fallback) node to the owners it stood in for:
 * for a target that is up, read each hinted key's object from the local
 * replica, send them in REPLICA_PUT_BATCHes (≤ 256 items or 1 MiB, one batch
 * in flight per target), and delete each hint only after the owner's ACK and
 * only if no newer write re-hinted the key meanwhile (HintStore generations).
 */
import { encodeObject } from '../core/context_codec.js';
import type { NodeId } from '../core/types.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import type { Replica } from '../node/replica.js';
import type { NodeStats } from '../node/stats.js';
import type { HintStore, PendingHint } from './hints.js';

export const MAX_BATCH_ITEMS = 256;
export const MAX_BATCH_BYTES = 1024 * 1024;

export interface HandoffDeps {
  readonly replica: Replica;
  readonly hints: () => HintStore;
  readonly isUp: (node: NodeId) => boolean;
  readonly request: (to: NodeId, request: PeerRequest, timeoutMs: number) => Promise<PeerReply>;
  readonly peerTimeoutMs: number;
  readonly stats: NodeStats;
  readonly stopped: () => boolean;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export class Handoff {
  private readonly inFlight = new Set<NodeId>();

  constructor(private readonly d: HandoffDeps) {}

  /** Delivers to every target that is up and has hints. Never rejects. */
  async deliverAll(): Promise<void> {
    await Promise.all(this.d.hints().targets().filter(this.d.isUp).map((t) => this.deliverTo(t)));
  }

  /** Delivers `target`'s hints batch after batch while it stays up and batches succeed. Never rejects. */
  async deliverTo(target: NodeId): Promise<void> {
    if (this.inFlight.has(target)) return;
    this.inFlight.add(target);
    try {
      while (!this.d.stopped() && this.d.isUp(target) && (await this.oneBatch(target)));
    } catch (e) {
      this.d.log('warn', `handoff to ${target}: ${String(e)}`);
    } finally {
      this.inFlight.delete(target);
    }
  }

  /** One batch; true when it made progress and more may remain. */
  private async oneBatch(target: NodeId): Promise<boolean> {
    const hints = this.d.hints();
    const pending = hints.pending(target, MAX_BATCH_ITEMS);
    if (pending.length === 0) return false;
    const items: { partition: number; key: Uint8Array; object: Uint8Array }[] = [];
    const sent: PendingHint[] = [];
    let bytes = 0;
    let dropped = 0;
    for (const h of pending) {
      // Read after the generation was taken (by `pending`): a write after this read bumps it.
      const obj = await this.d.replica.read(h.key);
      if (obj === null) {
        // Nothing left to hand over (the copy is gone): the hint is moot.
        if (await hints.removeIfUnchanged(h)) dropped++;
        continue;
      }
      const object = encodeObject(obj);
      const size = object.length + h.key.length + 16;
      if (items.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      items.push({ partition: h.partition, key: h.key, object });
      sent.push(h);
      bytes += size;
    }
    if (items.length === 0) return dropped > 0;
    let reply: PeerReply;
    try {
      reply = await this.d.request(target, { type: 'REPLICA_PUT_BATCH', items }, this.d.peerTimeoutMs);
    } catch {
      return false; // the next interval, or the target's next heartbeat, retries
    }
    if (reply.type !== 'ACK' || reply.count !== items.length) {
      this.d.log('warn', `handoff to ${target}: unexpected reply ${reply.type}`);
      return false;
    }
    let delivered = 0;
    for (const h of sent) if (await hints.removeIfUnchanged(h)) delivered++;
    this.d.stats.add('hintsDelivered', delivered);
    // Nothing removed means every key was re-hinted meanwhile: stop, the next interval sends the newer objects.
    return delivered + dropped > 0;
  }
}

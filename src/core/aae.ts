/**
 * Anti-entropy decisions, pure: the rate limit of exchanges (a token
 * bucket whose clock is a parameter) and the rule that decides when a
 * tombstone may be reaped. The shell (src/cluster/anti_entropy.ts) asks
 * the questions over the network and carries out the answers.
 *
 * The reaping rule. A tombstone is a real DVVSet sibling, so causality
 * decides between it and any value: a replica that still holds a value the
 * delete superseded loses it on the next merge. Removing the tombstone
 * itself is the one step that can bring a deleted value back: if any node
 * still holds an older value (or will be sent one by a hint), that value no
 * longer meets the tombstone and becomes live again. So a tombstone is
 * reaped only when a single round of questions to every member of the
 * cluster has shown that
 *   - every one of the N primaries holds exactly this tombstone object;
 *   - every other member holds it, holds nothing, or holds an object the
 *     tombstone descends from (a stale fallback copy), and has no hint
 *     pending for the key (a hint would send its copy somewhere later);
 *   - no member failed to answer (an unreachable node may hold anything).
 * Then each member that holds a copy is told to remove it if its copy is
 * still the one it described (a write in between keeps it). Time plays no
 * part: a tombstone outlives any outage, however long, until this holds.
 *
 * Laws (test/core/aae.test.ts):
 *   reapVerdict is 'reap' only if every primary answered 'same';
 *   one 'other', 'hinted' or 'unreachable' answer anywhere makes it 'keep';
 *   take never lets more than burst + rate × elapsed tokens through.
 */
import type { NodeId } from './types.js';

// ---------------------------------------------------------------- rate limit

/** A token bucket: `tokens` available at `atMs`, refilled at `perSec` up to `burst`. */
export interface Bucket {
  readonly perSec: number;
  readonly burst: number;
  readonly tokens: number;
  readonly atMs: number;
}

/** A full bucket at `nowMs`. */
export const bucket = (perSec: number, burst: number, nowMs: number): Bucket => ({ perSec, burst, tokens: burst, atMs: nowMs });

const refill = (b: Bucket, nowMs: number): number => Math.min(b.burst, b.tokens + (Math.max(0, nowMs - b.atMs) * b.perSec) / 1000);

/**
 * Takes `n` tokens at `nowMs`: the bucket after, and how long the caller
 * must wait before spending them (0 when they were there). A debt is
 * allowed (tokens go negative) so that an item larger than the burst still
 * goes through, after a proportionate wait.
 */
export const take = (b: Bucket, nowMs: number, n: number): { readonly bucket: Bucket; readonly waitMs: number } => {
  const tokens = refill(b, nowMs) - n;
  const waitMs = tokens >= 0 ? 0 : Math.ceil((-tokens * 1000) / b.perSec);
  return { bucket: { ...b, tokens, atMs: Math.max(nowMs, b.atMs) }, waitMs };
};

// ---------------------------------------------------------------- reaping

/**
 * What a member says about its copy of a key, compared with the tombstone
 * the asking node holds:
 *   same     it holds exactly this tombstone object;
 *   absent   it holds nothing;
 *   older    it holds an object the tombstone descends from (and differs);
 *   other    it holds something newer or concurrent;
 *   hinted   it has a hint pending for the key (its copy will travel);
 *   unreachable  it did not answer.
 */
export type CopyState = 'same' | 'absent' | 'older' | 'other' | 'hinted' | 'unreachable';

export interface MemberAnswer {
  readonly node: NodeId;
  readonly state: CopyState;
}

export type ReapVerdict =
  | { readonly _tag: 'keep'; readonly reason: string }
  /** Remove the copies on `holders` (each only if unchanged since it answered). */
  | { readonly _tag: 'reap'; readonly holders: readonly NodeId[] };

/**
 * The reaping rule for one key (see the module comment). `primaries` are
 * the key's N primary replicas; `answers` must hold one answer per member
 * of the cluster (primaries included), the asking node's own too.
 */
export const reapVerdict = (primaries: readonly NodeId[], answers: readonly MemberAnswer[]): ReapVerdict => {
  const byNode = new Map<NodeId, CopyState>();
  for (const a of answers) byNode.set(a.node, a.state);
  for (const p of primaries) {
    const s = byNode.get(p);
    if (s !== 'same') return { _tag: 'keep', reason: `primary ${p} ${s ?? 'did not answer'}` };
  }
  const holders: NodeId[] = [];
  for (const a of answers) {
    switch (a.state) {
      case 'same':
      case 'older':
        holders.push(a.node);
        break;
      case 'absent':
        break;
      default:
        return { _tag: 'keep', reason: `${a.node} ${a.state}` };
    }
  }
  return { _tag: 'reap', holders };
};

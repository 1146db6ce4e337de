/**
 * Quorum accumulators for get, put and delete: pure decisions, no waiting.
 *
 * Modelled on Riak's riak_kv_get_core: the coordinator's shell sends the
 * request to the targets, feeds every reply, failure and the timeout into the
 * accumulator, answers the client when `isDone`, and when `isFinal` (every
 * target heard from, or the timeout fired) performs the read repairs that
 * `finalAction` returns. Nothing here sends, waits or reads a clock.
 *
 * Sloppy quorum: a target with `hintFor` is a fallback standing in for an
 * unreachable owner (it stores a hint). Its replies count toward R and W
 * exactly like a primary's, which keeps the store writeable through failures
 * at the price that R + W > N no longer guarantees a read sees the last write
 * until hinted handoff delivers it. A put may demand `pw` acks from primaries
 * (targets without `hintFor`) to opt out of that.
 *
 * notfound replies count toward R (Riak's notfound_ok = true): "this replica
 * has nothing" is an answer. A get whose replies are all notfound answers
 * `value: null`. A merged clock whose siblings are all tombstones is returned
 * as is; the caller maps it to not-found with `isDeleted`.
 *
 * State use is linear: `addReply`, `addFailure` and `addTimeout` update the
 * state in place and return it (one small object per request, no allocation
 * per event beyond the merge). Do not keep an old reference expecting the old
 * value. Per target only the first event counts; events from nodes that are
 * not targets, and events after the timeout, are ignored.
 *
 * Laws (tested in test/core/quorum.test.ts, over every order of replies):
 *   isDone ⇔ replies ≥ R ∨ replies + pending < R ∨ timed out  (get; W for put)
 *   outcome.ok ⇔ replies ≥ R when it is first done; never done before that
 *     unless the quorum became impossible or time ran out
 *   isFinal once every target has replied or failed, or after the timeout
 *   the merged value is the sync of every found reply, in any order
 *   finalAction repairs exactly the replied targets whose reply is notfound or
 *     strictly older than the merge, sending them the merge
 */
import type { ErrorCode } from './error_codes.js';
import * as D from './dvvset.js';
import type { NodeId } from './types.js';

// ---------------------------------------------------------------- model

/** Where a request goes; `hintFor` names the owner a fallback stands in for. */
export interface Target {
  readonly node: NodeId;
  readonly hintFor?: NodeId;
}

export interface GetOptions {
  readonly n: number;
  readonly r: number;
  readonly targets: readonly Target[];
}

export interface PutOptions {
  readonly n: number;
  readonly w: number;
  /** Acks required from primaries (targets without `hintFor`); default 0. */
  readonly pw?: number;
  readonly targets: readonly Target[];
}

/** A replica's answer to a get: its version of the key, or null for notfound. */
export type GetReply<V> = D.Clock<V> | null;

export interface Failure {
  readonly node: NodeId;
  readonly code: ErrorCode;
}

/** Send `object` to `node` (storing it as a hint for `hintFor` when set). */
export interface Repair<V> {
  readonly node: NodeId;
  readonly hintFor?: NodeId;
  readonly object: D.Clock<V>;
}

export type Failed = {
  readonly ok: false;
  readonly code: 'KV_UNAVAILABLE' | 'KV_TIMEOUT';
  /** Replies (of any kind) received, and the number the quorum needed. */
  readonly replies: number;
  readonly needed: number;
  readonly failures: readonly Failure[];
};

export type GetOutcome<V> =
  | {
      readonly ok: true;
      /** The sync of every found reply so far; null when all replies were notfound. */
      readonly value: D.Clock<V> | null;
      readonly repairs: readonly Repair<V>[];
    }
  | Failed;

export type PutOutcome<V> =
  | {
      readonly ok: true;
      readonly acks: number;
      /** Acks from fallbacks: the write stands on hints until handoff. */
      readonly fallbackAcks: number;
      /** Sync of the versions the acks carried (empty when they carried none). */
      readonly value: D.Clock<V>;
    }
  | Failed;

const PENDING = 0;
const REPLIED = 1;
const FAILED = 2;

interface Common {
  readonly targets: readonly Target[];
  /** Per target: PENDING, REPLIED or FAILED. */
  readonly status: number[];
  readonly failures: Failure[];
  replies: number;
  pending: number;
  timedOut: boolean;
}

export interface GetState<V> extends Common {
  readonly kind: 'get';
  readonly r: number;
  /** Per target: its reply once REPLIED (null = notfound). */
  readonly answers: (GetReply<V> | undefined)[];
  merged: D.Clock<V>;
  found: number;
}

export interface PutState<V> extends Common {
  readonly kind: 'put';
  readonly w: number;
  readonly pw: number;
  primaryAcks: number;
  primaryPending: number;
  merged: D.Clock<V>;
}

// ---------------------------------------------------------------- constructors

const checkTargets = (n: number, targets: readonly Target[]): string | null => {
  if (!Number.isInteger(n) || n < 1) return 'n must be an integer >= 1';
  if (targets.length > n) return `${targets.length} targets for n = ${n}`;
  for (let i = 0; i < targets.length; i++) {
    for (let j = 0; j < i; j++) if (targets[j]!.node === targets[i]!.node) return `target ${targets[i]!.node} twice`;
  }
  return null;
};

/** Why get options are unusable, or null. */
export const invalidGet = (o: GetOptions): string | null =>
  checkTargets(o.n, o.targets) ?? (!Number.isInteger(o.r) || o.r < 1 || o.r > o.n ? 'r must be an integer in 1..n' : null);

/** Why put options are unusable, or null. */
export const invalidPut = (o: PutOptions): string | null => {
  const t = checkTargets(o.n, o.targets);
  if (t !== null) return t;
  if (!Number.isInteger(o.w) || o.w < 1 || o.w > o.n) return 'w must be an integer in 1..n';
  const pw = o.pw ?? 0;
  if (!Number.isInteger(pw) || pw < 0 || pw > o.w) return 'pw must be an integer in 0..w';
  return null;
};

// A plain array: a fresh Uint8Array costs ~3x as much for 3 entries.
const pendingStatus = (n: number): number[] => {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = PENDING;
  return out;
};

/**
 * A get's accumulator. Throws (a programming error, not a runtime condition)
 * when `invalidGet` finds the options unusable. Fewer targets than R (too few
 * healthy nodes) is a valid start that is done at once with KV_UNAVAILABLE.
 */
export const initGet = <V>(o: GetOptions): GetState<V> => {
  const bad = invalidGet(o);
  if (bad !== null) throw new RangeError(`quorum.initGet: ${bad}`);
  // Literal objects, not spreads: a spread here cost microseconds per request.
  const t = o.targets;
  return { kind: 'get', targets: t, status: pendingStatus(t.length), failures: [], replies: 0, pending: t.length, timedOut: false, r: o.r, answers: new Array(t.length), merged: D.empty, found: 0 };
};

/** A put's accumulator; see `initGet` for what it throws. */
export const initPut = <V>(o: PutOptions): PutState<V> => {
  const bad = invalidPut(o);
  if (bad !== null) throw new RangeError(`quorum.initPut: ${bad}`);
  let primaries = 0;
  for (const t of o.targets) if (t.hintFor === undefined) primaries++;
  const t = o.targets;
  return { kind: 'put', targets: t, status: pendingStatus(t.length), failures: [], replies: 0, pending: t.length, timedOut: false, w: o.w, pw: o.pw ?? 0, primaryAcks: 0, primaryPending: primaries, merged: D.empty };
};

/** A delete is a put of a tombstone value: the same accumulator. */
export const initDelete = initPut;

// ---------------------------------------------------------------- combinators

const indexOf = (s: Common, node: NodeId): number => {
  const t = s.targets;
  for (let i = 0; i < t.length; i++) if (t[i]!.node === node) return i;
  return -1;
};

/** Index of a still-pending target, or -1 when the event must be ignored. */
const accept = (s: Common, node: NodeId): number => {
  if (s.timedOut) return -1;
  const i = indexOf(s, node);
  return i >= 0 && s.status[i] === PENDING ? i : -1;
};

/** A replica's reply: its version (get: null for notfound; put: the stored version, if it returns one). */
export function addReply<V>(s: GetState<V>, node: NodeId, reply: GetReply<V>): GetState<V>;
export function addReply<V>(s: PutState<V>, node: NodeId, reply?: D.Clock<V>): PutState<V>;
export function addReply<V>(s: GetState<V> | PutState<V>, node: NodeId, reply?: D.Clock<V> | null): GetState<V> | PutState<V> {
  const i = accept(s, node);
  if (i < 0) return s;
  s.status[i] = REPLIED;
  s.replies++;
  s.pending--;
  if (s.kind === 'get') {
    const answer = reply ?? null;
    s.answers[i] = answer;
    if (answer !== null && answer.length > 0) {
      s.found++;
      s.merged = D.sync(s.merged, answer);
    }
  } else {
    if (s.targets[i]!.hintFor === undefined) {
      s.primaryAcks++;
      s.primaryPending--;
    }
    if (reply != null) s.merged = D.sync(s.merged, reply);
  }
  return s;
}

/** A target answered with an error (or the shell gave up on it, e.g. connection refused). */
export function addFailure<V>(s: GetState<V>, node: NodeId, code: ErrorCode): GetState<V>;
export function addFailure<V>(s: PutState<V>, node: NodeId, code: ErrorCode): PutState<V>;
export function addFailure<V>(s: GetState<V> | PutState<V>, node: NodeId, code: ErrorCode): GetState<V> | PutState<V> {
  const i = accept(s, node);
  if (i < 0) return s;
  s.status[i] = FAILED;
  s.pending--;
  s.failures.push({ node, code });
  if (s.kind === 'put' && s.targets[i]!.hintFor === undefined) s.primaryPending--;
  return s;
}

/** The request's deadline passed: whatever has not arrived never will. */
export function addTimeout<V>(s: GetState<V>): GetState<V>;
export function addTimeout<V>(s: PutState<V>): PutState<V>;
export function addTimeout<V>(s: GetState<V> | PutState<V>): GetState<V> | PutState<V> {
  s.timedOut = true;
  return s;
}

const needed = (s: GetState<unknown> | PutState<unknown>): number => (s.kind === 'get' ? s.r : s.w);

const met = (s: GetState<unknown> | PutState<unknown>): boolean =>
  s.kind === 'get' ? s.replies >= s.r : s.replies >= s.w && s.primaryAcks >= s.pw;

const impossible = (s: GetState<unknown> | PutState<unknown>): boolean => {
  if (s.replies + s.pending < needed(s)) return true;
  return s.kind === 'put' && s.primaryAcks + s.primaryPending < s.pw;
};

/** The client can be answered: the quorum is met, can no longer be met, or time ran out. */
export const isDone = (s: GetState<unknown> | PutState<unknown>): boolean => met(s) || impossible(s) || s.timedOut;

/** Nothing more will arrive: every target replied or failed, or time ran out. */
export const isFinal = (s: GetState<unknown> | PutState<unknown>): boolean => s.pending === 0 || s.timedOut;

const failed = (s: GetState<unknown> | PutState<unknown>): Failed => ({
  ok: false,
  // A quorum that became impossible is unavailable even if the clock later ran out.
  code: impossible(s) ? 'KV_UNAVAILABLE' : 'KV_TIMEOUT',
  replies: s.replies,
  needed: needed(s),
  failures: s.failures,
});

/** The replied targets that lack part of the merge (or said notfound), each with the merge to store. */
export const finalAction = <V>(s: GetState<V>): readonly Repair<V>[] => {
  const merged = s.merged;
  if (s.found === 0) return [];
  const out: Repair<V>[] = [];
  for (let i = 0; i < s.targets.length; i++) {
    if (s.status[i] !== REPLIED) continue;
    const answer = s.answers[i];
    // For versions of one key, merged ≥ answer always; not ≤ means strictly older.
    if (answer == null || answer.length === 0 || !D.descends(answer, merged)) {
      const t = s.targets[i]!;
      out.push(t.hintFor === undefined ? { node: t.node, object: merged } : { node: t.node, hintFor: t.hintFor, object: merged });
    }
  }
  return out;
};

/**
 * The answer, or null while not done. Repairs are those due among the replies
 * so far: the shell answers at `isDone` and performs `finalAction` at `isFinal`.
 */
export function outcome<V>(s: GetState<V>): GetOutcome<V> | null;
export function outcome<V>(s: PutState<V>): PutOutcome<V> | null;
export function outcome<V>(s: GetState<V> | PutState<V>): GetOutcome<V> | PutOutcome<V> | null {
  if (!isDone(s)) return null;
  if (!met(s)) return failed(s);
  if (s.kind === 'get') return { ok: true, value: s.found === 0 ? null : s.merged, repairs: finalAction(s) };
  return { ok: true, acks: s.replies, fallbackAcks: s.replies - s.primaryAcks, value: s.merged };
}

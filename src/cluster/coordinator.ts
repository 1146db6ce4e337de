/**
 * The coordinator: a client's get/put/delete against N replicas (docs/cluster.md,
 * "Write path" and "Read path"). The decisions are the pure quorum
 * accumulators of core/quorum; this file only sends, waits, and gives up at
 * the deadline. Every client request settles by its deadline, whatever the
 * network or the local store do: the deadline timer is armed before any
 * work starts and turns into the accumulator's timeout.
 */
import * as D from '../core/dvvset.js';
import { decodeObject, encodeContext, encodeObject } from '../core/context_codec.js';
import * as Q from '../core/quorum.js';
import { sloppyPreferenceList, type Replica as Target, type Ring } from '../core/ring.js';
import type { NodeId } from '../core/types.js';
import { KvError, isKvError, type ErrorCode } from '../errors.js';
import type { Forward, ForwardReply, PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import { tagValue, tombstone, type Obj, type Replica, type Stored, type Tagged } from '../node/replica.js';
import { clientContext, toReadResult, type ReadResult, type WriteResult } from '../node/service.js';
import type { NodeStats } from '../node/stats.js';
import type { ClusterConfig } from './api.js';
import type { Clock } from './effects.js';

const EMPTY = new Uint8Array(0);

export interface CoordinatorDeps {
  readonly self: NodeId;
  readonly config: ClusterConfig;
  readonly replica: Replica;
  readonly clock: Clock;
  readonly stats: NodeStats;
  /** Records a durable hint (this node holds `key` for `target`); resolves once stored. */
  readonly addHint: (target: NodeId, partition: number, key: Uint8Array) => Promise<void>;
  /** The ring partition p routes by (core/ring_plan: the next ring once p's transfers are done). */
  readonly ring: (partition: number) => Ring;
  /** Nodes that also get every write to p while a ring change is pending (double-write); none by default. */
  readonly extraTargets?: (partition: number) => readonly NodeId[];
  readonly isUp: (node: NodeId) => boolean;
  /** False until this node has heard from the cluster (a ring over only itself would misplace writes). */
  readonly ready: () => boolean;
  /** A peer request with failure accounting; `suspect` false keeps the failure out of the detector. */
  readonly request: (to: NodeId, request: PeerRequest, timeoutMs: number, suspect?: boolean) => Promise<PeerReply>;
  /** Runs background work (repairs) that must not throw unhandled. */
  readonly background: (work: Promise<unknown>, what: string) => void;
}

/** The KvError code of anything thrown; unknown errors are internal. */
export const codeOf = (e: unknown): ErrorCode => (isKvError(e) ? e.code : 'KV_INTERNAL');

/** Failures worth trying the next forward target for; a bad request fails the same everywhere. */
const retryable = (code: ErrorCode): boolean => code !== 'KV_BAD_ARGUMENT' && code !== 'KV_TOO_LARGE';

export class Coordinator {
  constructor(private readonly d: CoordinatorDeps) {}

  /** The request's budget: the client's timeout (0 = default) capped by requestTimeoutMs. */
  private budgetMs(timeoutMs: number): number {
    const max = this.d.config.requestTimeoutMs;
    return timeoutMs > 0 ? Math.min(timeoutMs, max) : max;
  }

  private checkReady(): void {
    if (!this.d.ready()) throw new KvError('KV_UNAVAILABLE', `${this.d.self} has not heard from the cluster yet`);
  }

  private quorum(name: 'r' | 'w', value: number): number {
    const q = value === 0 ? this.d.config[name] : value;
    if (!Number.isInteger(q) || q < 1 || q > this.d.config.n) {
      throw new KvError('KV_BAD_ARGUMENT', `${name}=${value} must be an integer in 1..n (n=${this.d.config.n}), or 0 for the default`);
    }
    return q;
  }

  private targets(key: Uint8Array): { readonly partition: number; readonly targets: readonly Target[] } {
    const partition = this.d.replica.partitionOf(key);
    return { partition, targets: sloppyPreferenceList(this.d.ring(partition), partition, this.d.config.n, this.d.isUp) };
  }

  private isTarget(targets: readonly Target[]): boolean {
    for (const t of targets) if (t.node === this.d.self) return true;
    return false;
  }

  // ------------------------------------------------------------------ client entry points

  async get(key: Uint8Array, r: number, timeoutMs: number): Promise<ReadResult> {
    const rq = this.quorum('r', r);
    this.checkReady();
    const deadlineMs = this.d.clock.now() + this.budgetMs(timeoutMs);
    const { partition, targets } = this.targets(key);
    if (!this.isTarget(targets)) {
      this.d.stats.add('forwardedRequests');
      const reply = await this.forward({ type: 'FORWARD', op: 'get', key, value: EMPTY, context: EMPTY, quorum: r, timeoutMs: 0 }, targets, deadlineMs);
      return { found: reply.found, siblings: reply.siblings, context: reply.context };
    }
    return this.coordinateGet(key, partition, targets, rq, deadlineMs);
  }

  async put(key: Uint8Array, value: Uint8Array | null, context: Uint8Array, w: number, timeoutMs: number): Promise<WriteResult> {
    const wq = this.quorum('w', w);
    const ctx = clientContext(context);
    this.checkReady();
    const deadlineMs = this.d.clock.now() + this.budgetMs(timeoutMs);
    const { partition, targets } = this.targets(key);
    if (!this.isTarget(targets)) {
      this.d.stats.add('forwardedRequests');
      const op = value === null ? 'delete' : 'put';
      const reply = await this.forward({ type: 'FORWARD', op, key, value: value ?? EMPTY, context, quorum: w, timeoutMs: 0 }, targets, deadlineMs);
      return { context: reply.context };
    }
    return this.coordinatePut(key, partition, targets, D.newWithContext(ctx, value === null ? tombstone() : tagValue(value)), wq, deadlineMs);
  }

  /**
   * Serves a FORWARD: this node coordinates even when its own view does not
   * make it a target (views differ while gossip converges; forwarding again
   * could loop). A put then stands in for the last target, as a fallback
   * holding a hint for it, so the write still lands on N nodes.
   */
  async serveForward(f: Forward): Promise<ForwardReply> {
    this.checkReady();
    const deadlineMs = this.d.clock.now() + this.budgetMs(f.timeoutMs);
    const { partition, targets } = this.targets(f.key);
    if (f.op === 'get') {
      const res = await this.coordinateGet(f.key, partition, targets, this.quorum('r', f.quorum), deadlineMs);
      return { type: 'FORWARD_REPLY', found: res.found, siblings: res.siblings, context: res.context };
    }
    const wq = this.quorum('w', f.quorum);
    const ctx = clientContext(f.context);
    let own = targets;
    if (!this.isTarget(targets)) {
      const last = targets[targets.length - 1];
      own =
        last === undefined || targets.length < this.d.config.n
          ? [...targets, { node: this.d.self }]
          : [...targets.slice(0, -1), { node: this.d.self, hintFor: last.hintFor ?? last.node }];
    }
    const write = D.newWithContext(ctx, f.op === 'delete' ? tombstone() : tagValue(f.value));
    const res = await this.coordinatePut(f.key, partition, own, write, wq, deadlineMs);
    return { type: 'FORWARD_REPLY', found: false, siblings: [], context: res.context };
  }

  // ------------------------------------------------------------------ forwarding

  /** Relays to the first target that answers (then the next), within the deadline. */
  private async forward(request: Forward, targets: readonly Target[], deadlineMs: number): Promise<ForwardReply> {
    let last: unknown = undefined;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      const leftMs = deadlineMs - this.d.clock.now();
      if (leftMs <= 0) break;
      // While other targets remain, one attempt may not take the whole deadline: a single
      // lost message would otherwise fail the request without trying the next target.
      // Twice the peer timeout leaves the remote coordinator room for its own replica round.
      const remainingMs = i + 1 < targets.length ? Math.min(leftMs, 2 * this.d.config.peerTimeoutMs) : leftMs;
      this.d.stats.add('forwarded');
      // The peer gets a little less time than we wait, so its own timeout answer reaches us first.
      const peerBudgetMs = Math.max(1, Math.floor(remainingMs * 0.9));
      try {
        const reply = await this.bounded(this.d.request(t.node, { ...request, timeoutMs: peerBudgetMs }, remainingMs, false), remainingMs, t.node);
        if (reply.type !== 'FORWARD_REPLY') throw new KvError('KV_INTERNAL', `FORWARD to ${t.node} answered ${reply.type}`);
        return reply;
      } catch (e) {
        last = e;
        if (!retryable(codeOf(e))) throw e;
      }
    }
    if (last !== undefined) throw last;
    throw new KvError(targets.length === 0 ? 'KV_UNAVAILABLE' : 'KV_TIMEOUT', `no target of the key could coordinate it (${targets.length} targets)`);
  }

  /**
   * `work`, or KV_TIMEOUT once `ms` passed: the transport promises to time
   * out by itself, but a client request must end even if it does not.
   */
  private bounded<T>(work: Promise<T>, ms: number, peer: NodeId): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.d.clock.setTimer(ms, () => reject(new KvError('KV_TIMEOUT', `FORWARD to ${peer}: no answer in ${ms} ms`)));
      work.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (e: unknown) => {
          timer.cancel();
          reject(e);
        },
      );
    });
  }

  // ------------------------------------------------------------------ write

  /** Where a bug in a reply continuation goes instead of becoming an unhandled rejection. */
  private readonly internalError = (e: unknown): void => this.d.background(Promise.reject(e), 'coordinator continuation');

  private coordinatePut(
    key: Uint8Array,
    partition: number,
    targets: readonly Target[],
    write: D.Pending<Tagged>,
    w: number,
    deadlineMs: number,
  ): Promise<WriteResult> {
    const d = this.d;
    const internal = this.internalError;
    const state = Q.initPut<Tagged>({ n: d.config.n, w, targets });
    return new Promise<WriteResult>((resolve, reject) => {
      let answered = false;
      let contextBytes: Uint8Array = EMPTY;
      const settle = (): void => {
        if (answered) return;
        const out = Q.outcome(state);
        if (out === null) return;
        answered = true;
        timer.cancel();
        if (out.ok) resolve({ context: contextBytes });
        else reject(new KvError(out.code, `put: ${out.replies} of ${out.needed} acks (${describe(out.failures)})`));
      };
      const timer = d.clock.setTimer(Math.max(0, deadlineMs - d.clock.now()), () => {
        Q.addTimeout(state);
        settle();
      });
      settle(); // fewer healthy targets than W: fail fast, write nothing
      if (answered) return;
      const self = targets.find((t) => t.node === d.self)!;
      // The local write: finished at once on a synchronous store (Replica.coordinateStoredNow),
      // so the replica requests go out in this turn, without a promise in between.
      const local = (): Stored | Promise<Stored> => {
        const stored = d.replica.coordinateStoredNow(key, write);
        // A fallback coordinator keeps a hint before its copy counts as an ack.
        const hintFor = self.hintFor;
        return hintFor === undefined ? stored : Promise.resolve(stored).then((s) => d.addHint(hintFor, partition, key).then(() => s));
      };
      const replicate = ({ object: obj, bytes: object }: Stored): void => {
        contextBytes = encodeContext(D.join(obj));
        Q.addReply(state, d.self, obj);
        settle();
        this.doubleWrite(partition, key, object, targets);
        for (const t of targets) {
          if (t.node === d.self) continue;
          const timeoutMs = Math.min(d.config.peerTimeoutMs, Math.max(1, deadlineMs - d.clock.now()));
          d.request(t.node, { type: 'REPLICA_PUT', partition, key, object, hintFor: t.hintFor ?? '' }, timeoutMs)
            .then(
              (rep) => {
                if (rep.type === 'ACK') Q.addReply(state, t.node);
                else Q.addFailure(state, t.node, 'KV_INTERNAL');
                settle();
              },
              (e: unknown) => {
                Q.addFailure(state, t.node, codeOf(e));
                settle();
              },
            )
            .catch(internal);
        }
      };
      const localFailed = (e: unknown): void => {
        // Without the local object there is nothing to replicate: the write failed here.
        if (answered) return;
        answered = true;
        timer.cancel();
        reject(isKvError(e) ? e : new KvError('KV_INTERNAL', `local write failed: ${String(e)}`, { cause: e }));
      };
      let stored: Stored | Promise<Stored>;
      try {
        stored = local();
      } catch (e) {
        localFailed(e);
        return;
      }
      if (stored instanceof Promise) {
        stored.then(replicate, localFailed).catch(internal);
        return;
      }
      try {
        replicate(stored);
      } catch (e) {
        internal(e);
      }
    });
  }

  /**
   * While a partition moves, the nodes entering (or leaving) its preference
   * list get the write too, outside the quorum; one that fails gets a hint
   * (this coordinator holds the object), so the transfer's copy is never
   * older than what was acknowledged.
   */
  private doubleWrite(partition: number, key: Uint8Array, object: Uint8Array, targets: readonly Target[]): void {
    const extras = this.d.extraTargets?.(partition);
    if (extras === undefined || extras.length === 0) return;
    const d = this.d;
    for (const x of extras) {
      if (x === d.self || targets.some((t) => t.node === x)) continue;
      const work = d.request(x, { type: 'REPLICA_PUT', partition, key, object, hintFor: '' }, d.config.peerTimeoutMs).then(
        () => undefined,
        () => d.addHint(x, partition, key),
      );
      d.background(work, `double-write to ${x}`);
    }
  }

  // ------------------------------------------------------------------ read

  private coordinateGet(key: Uint8Array, partition: number, targets: readonly Target[], r: number, deadlineMs: number): Promise<ReadResult> {
    const d = this.d;
    const internal = this.internalError;
    const state = Q.initGet<Tagged>({ n: d.config.n, r, targets });
    return new Promise<ReadResult>((resolve, reject) => {
      let answered = false;
      let finished = false;
      const progress = (): void => {
        if (!answered) {
          const out = Q.outcome(state);
          if (out !== null) {
            answered = true;
            if (out.ok) resolve(toReadResult(out.value));
            else reject(new KvError(out.code, `get: ${out.replies} of ${out.needed} replies (${describe(out.failures)})`));
          }
        }
        if (!finished && Q.isFinal(state)) {
          finished = true;
          timer.cancel();
          this.repair(key, partition, Q.finalAction(state));
        }
      };
      const timer = d.clock.setTimer(Math.max(0, deadlineMs - d.clock.now()), () => {
        Q.addTimeout(state);
        progress();
      });
      progress();
      if (answered) return; // fewer healthy targets than R: fail fast
      const reply = (node: NodeId, obj: Obj | null): void => {
        Q.addReply(state, node, obj);
        progress();
      };
      const fail = (node: NodeId, e: unknown): void => {
        Q.addFailure(state, node, codeOf(e));
        progress();
      };
      for (const t of targets) {
        if (t.node === d.self) {
          try {
            const obj = d.replica.read(key);
            if (obj instanceof Promise) obj.then((o) => reply(d.self, o), (e: unknown) => fail(d.self, e)).catch(internal);
            else reply(d.self, obj);
          } catch (e) {
            fail(d.self, e);
          }
          continue;
        }
        const timeoutMs = Math.min(d.config.peerTimeoutMs, Math.max(1, deadlineMs - d.clock.now()));
        d.request(t.node, { type: 'REPLICA_GET', partition, key }, timeoutMs).then(
          (rep) => {
            if (rep.type !== 'REPLICA_GET_REPLY') return fail(t.node, new KvError('KV_INTERNAL', `REPLICA_GET answered ${rep.type}`));
            if (!rep.found) return reply(t.node, null);
            // Values as views, not a copy (a fresh ArrayBuffer per reply was the largest
            // allocation of a cluster op): a reply's bytes are a received frame's, which
            // nothing writes into (FrameDecoder never reuses a chunk or a partial buffer).
            const decoded = decodeObject(rep.object, { copyValues: false });
            if (!decoded.ok) return fail(t.node, new KvError('KV_CORRUPTION', decoded.reason));
            reply(t.node, decoded.value);
          },
          (e: unknown) => fail(t.node, e),
        ).catch(internal);
      }
    });
  }

  /** Read repair: the merged object to every replied target that lacked part of it. */
  private repair(key: Uint8Array, partition: number, repairs: readonly Q.Repair<Tagged>[]): void {
    if (repairs.length === 0 || this.d.config.readRepair === false) return;
    const d = this.d;
    d.stats.add('readRepairs', repairs.length);
    for (const rep of repairs) {
      if (rep.node === d.self) {
        const work = d.replica.merge(key, rep.object).then(() => (rep.hintFor === undefined ? undefined : d.addHint(rep.hintFor, partition, key)));
        d.background(work, `read repair of the local copy`);
        continue;
      }
      const req: PeerRequest = { type: 'REPLICA_PUT', partition, key, object: encodeObject(rep.object), hintFor: rep.hintFor ?? '' };
      d.background(d.request(rep.node, req, d.config.peerTimeoutMs), `read repair to ${rep.node}`);
    }
  }
}

const describe = (failures: readonly Q.Failure[]): string =>
  failures.length === 0 ? 'no failures' : failures.map((f) => `${f.node}: ${f.code}`).join(', ');

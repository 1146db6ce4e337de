/**
 * A cluster node: the coordinator (client requests over N replicas), the
 * replica handler (peer requests), hinted handoff, and gossip with failure
 * detection, wired to the effects of src/cluster/effects.ts only. The same
 * object runs in production (TcpTransport, real clock) and in the
 * deterministic simulation (src/cluster/sim/).
 */
import { preferenceList, type Ring } from '../core/ring.js';
import type { NodeId } from '../core/types.js';
import { KvError, isKvError } from '../errors.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import type { Replica } from '../node/replica.js';
import type { ReadResult, WriteResult } from '../node/service.js';
import type { NodeStats } from '../node/stats.js';
import type { ClusterConfig, ClusterNodeApi, ClusterNodeOptions, ClusterStatus, MemberStatus } from './api.js';
import { AntiEntropy, defaultAaeConfig, type ExchangeResult } from './anti_entropy.js';
import { Coordinator } from './coordinator.js';
import type { Clock, Timer, Transport } from './effects.js';
import { Gossiper } from './gossip.js';
import { Handoff } from './handoff.js';
import { HintStore } from './hints.js';
import { ReplicaHandler } from './replica_handler.js';
import { RingState } from './ring_state.js';

/** Why a cluster configuration is unusable, or null. */
export const invalidClusterConfig = (c: ClusterConfig): string | null => {
  if (!Number.isInteger(c.n) || c.n < 1) return 'n must be an integer >= 1';
  if (!Number.isInteger(c.r) || c.r < 1 || c.r > c.n) return `r must be an integer in 1..n (r=${c.r}, n=${c.n})`;
  if (!Number.isInteger(c.w) || c.w < 1 || c.w > c.n) return `w must be an integer in 1..n (w=${c.w}, n=${c.n})`;
  for (const f of ['requestTimeoutMs', 'peerTimeoutMs', 'gossipIntervalMs', 'handoffIntervalMs'] as const) {
    if (!(c[f] > 0) || !Number.isFinite(c[f])) return `${f} must be a positive number`;
  }
  if (!(c.phiThreshold > 0)) return 'phiThreshold must be positive';
  if (!Number.isInteger(c.maxConsecutiveFailures) || c.maxConsecutiveFailures < 1) return 'maxConsecutiveFailures must be an integer >= 1';
  return null;
};

/** Failures that say something about the peer's reachability (not about the request). */
const networkFailure = (e: unknown): boolean =>
  !isKvError(e) || e.code === 'KV_TIMEOUT' || e.code === 'KV_UNAVAILABLE' || e.code === 'KV_CLOSED';

export class ClusterNode implements ClusterNodeApi {
  readonly nodeId: NodeId;
  private readonly config: ClusterConfig;
  private readonly replica: Replica;
  private readonly clock: Clock;
  private readonly transport: Transport;
  private readonly nodeStats: NodeStats;
  private readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  private readonly gossiper: Gossiper;
  private readonly ringState: RingState;
  private readonly coordinator: Coordinator;
  private readonly handler: ReplicaHandler;
  private readonly handoff: Handoff;
  /** Live Merkle trees, exchanges, tombstone reaping (issue 7). */
  readonly antiEntropy: AntiEntropy;
  private hintStore: HintStore | undefined;
  private readonly timers = new Set<Timer>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly gauged = new Set<NodeId>();
  private started = false;
  /** Heard from another node at least once (always true for a node without seeds: it starts the cluster). */
  private heard: boolean;
  private ringChanges = 0;
  /** A client request or FORWARD was coordinated before the first ring change. */
  private coordinatedOnFirstRing = false;
  /** Ring-change hinting runs one at a time, in ring order. */
  private rehinting: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: ClusterNodeOptions) {
    const why = invalidClusterConfig(options.config);
    if (why !== null) throw new KvError('KV_BAD_ARGUMENT', `cluster config: ${why}`);
    if (options.replica.partitionBits !== options.config.partitionBits) {
      throw new KvError('KV_BAD_ARGUMENT', `replica has ${options.replica.partitionBits} partition bits, config ${options.config.partitionBits}`);
    }
    this.nodeId = options.nodeId;
    this.heard = options.seeds.every((s) => s === options.address);
    this.config = options.config;
    this.replica = options.replica;
    this.clock = options.clock;
    this.transport = options.transport;
    this.nodeStats = options.stats;
    this.log = options.log ?? (() => undefined);
    this.gossiper = new Gossiper({
      self: options.nodeId,
      address: options.address,
      weight: options.weight,
      incarnation: options.incarnation,
      seeds: options.seeds,
      config: options.config,
      clock: options.clock,
      random: options.random,
      transport: options.transport,
      onViewChanged: () => this.onViewChanged(),
      onPeerUp: (peer) => this.onPeerUp(peer),
      onHeard: () => void (this.heard = true),
      log: this.log,
    });
    this.ringState = new RingState(options.config.partitionBits, options.config.n, this.gossiper.view);
    const hints = (): HintStore => {
      if (this.hintStore === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
      return this.hintStore;
    };
    const addHint = async (target: NodeId, partition: number, key: Uint8Array): Promise<void> => {
      await hints().add(target, partition, key);
      this.nodeStats.add('hintsStored');
      this.gaugeHintsFor(target);
    };
    const isUp = (node: NodeId): boolean => this.gossiper.isUp(node);
    this.coordinator = new Coordinator({
      self: options.nodeId,
      config: options.config,
      replica: options.replica,
      clock: options.clock,
      stats: options.stats,
      addHint,
      ring: () => this.ringState.ring,
      isUp,
      ready: () => this.heard,
      request: (to, req, timeoutMs, suspect) => this.request(to, req, timeoutMs, suspect),
      background: (work, what) => this.background(work, what),
    });
    this.handler = new ReplicaHandler({
      self: options.nodeId,
      replica: options.replica,
      addHint,
      primariesOf: (p) => preferenceList(this.ringState.ring, p, options.config.n),
      coordinator: this.coordinator,
      gossiper: this.gossiper,
      antiEntropy: (req) => this.antiEntropy.handle(req),
    });
    this.antiEntropy = new AntiEntropy({
      self: options.nodeId,
      replica: options.replica,
      config: { ...defaultAaeConfig, ...options.config.aae },
      clock: options.clock,
      stats: options.stats,
      peerTimeoutMs: options.config.peerTimeoutMs,
      request: (to, req, timeoutMs) => this.request(to, req, timeoutMs),
      primariesOf: (p) => preferenceList(this.ringState.ring, p, options.config.n),
      members: () => [...this.gossiper.view.values()].filter((e) => e.status !== 'removed').map((e) => e.id),
      isUp,
      hintPending: (p, key) => this.hintStore?.pendingFor(p, key) ?? true,
      stopped: () => this.stopped,
      log: this.log,
    });
    this.handoff = new Handoff({
      replica: options.replica,
      hints,
      isUp,
      request: (to, req, timeoutMs) => this.request(to, req, timeoutMs),
      peerTimeoutMs: options.config.peerTimeoutMs,
      stats: options.stats,
      stopped: () => this.stopped,
      log: this.log,
    });
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.hintStore = await HintStore.open(this.options.hintBackend, (why) => this.log('warn', `hint store: skipping a record: ${why}`));
    if (this.hintStore.count() > 0) this.log('info', `${this.hintStore.count()} hints pending from before the restart`);
    this.nodeStats.gauge('hintsPending', () => this.hintStore?.count() ?? 0);
    for (const t of this.hintStore.targets()) this.gaugeHintsFor(t);
    // Trees first: no write may reach the replica while they are built.
    await this.antiEntropy.start();
    this.transport.serve((from, req) => this.handlePeer(from, req));
    // First round now: a joining node introduces itself to its seeds at once.
    this.every(this.config.gossipIntervalMs, () => this.gossiper.runRound(), 'gossip', true);
    if (this.config.handoff !== false) this.every(this.config.handoffIntervalMs, () => this.handoff.deliverAll(), 'handoff', false);
    const aae = { ...defaultAaeConfig, ...this.config.aae };
    if (aae.enabled) this.every(aae.intervalMs, () => this.antiEntropy.tick(), 'anti-entropy', false);
  }

  /** Exchanges partition `p` with `peer` (another primary when not given) now, after any exchange in progress. */
  exchangeNow(p: number, peer?: NodeId): Promise<ExchangeResult> {
    return this.antiEntropy.exchange(p, peer);
  }

  /**
   * Stops timers; work already in flight finishes on its own (every piece is
   * bounded by a timeout) and its late results are harmless: a hint is only
   * deleted after its owner acknowledged it. Does not wait for the network:
   * under a simulated clock nothing would advance it.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }

  /** Runs `work` every `intervalMs` on the Clock (re-armed at each firing, so a slow round does not delay the next). */
  private every(intervalMs: number, work: () => Promise<void>, what: string, now: boolean): void {
    let timer: Timer;
    const fire = (): void => {
      this.timers.delete(timer);
      if (this.stopped) return;
      timer = this.clock.setTimer(intervalMs, fire);
      this.timers.add(timer);
      this.background(work(), what);
    };
    timer = this.clock.setTimer(now ? 0 : intervalMs, fire);
    this.timers.add(timer);
  }

  /** A `hintsPending.<target>` gauge per target this node ever held hints for. */
  private gaugeHintsFor(target: NodeId): void {
    if (this.gauged.has(target)) return;
    this.gauged.add(target);
    this.nodeStats.gauge(`hintsPending.${target}`, () => this.hintStore?.count(target) ?? 0);
  }

  /** Tracks background work so it never becomes an unhandled rejection. */
  private background(work: Promise<unknown>, what: string): void {
    const p = work.then(
      () => undefined,
      (e: unknown) => this.log('warn', `${what}: ${e instanceof Error ? e.message : String(e)}`),
    );
    this.pending.add(p);
    void p.then(() => this.pending.delete(p));
  }

  /** Pending background promises (tests and the simulation wait for quiet). */
  get backgroundCount(): number {
    return this.pending.size;
  }

  // Not async: one promise per peer request instead of two (this runs two or three times per client op).
  private request(to: NodeId, req: PeerRequest, timeoutMs: number, suspect = true): Promise<PeerReply> {
    let sent: Promise<PeerReply>;
    try {
      sent = this.transport.request(to, req, timeoutMs);
    } catch (e) {
      // A transport that throws instead of rejecting still counts as a failed request, as under `async`.
      sent = Promise.reject(e);
    }
    return sent.then(
      (reply) => {
        this.gossiper.requestSucceeded(to);
        return reply;
      },
      (e: unknown) => {
        this.nodeStats.add('peerRequestFailures');
        if (suspect && networkFailure(e)) this.gossiper.requestFailed(to);
        throw e;
      },
    );
  }

  private onViewChanged(): void {
    const before = this.ringState.ring;
    if (!this.ringState.update(this.gossiper.view)) return;
    const after = this.ringState.ring;
    this.log('info', `ring rebuilt over ${this.memberCount()} members, version ${this.ringState.version.toString(16)}`);
    const first = this.ringChanges++ === 0;
    // The ring a node starts with covers only itself; unless this node
    // coordinated requests by it (a node without seeds may), the data it holds
    // was placed by earlier rings (before a restart, or by peers), and hinting
    // all of it to everyone would flood handoff after every restart.
    if ((first && !this.coordinatedOnFirstRing) || !this.started || this.stopped) return;
    const run = this.rehinting.then(() => this.rehint(before, after));
    this.rehinting = run.catch(() => undefined);
    this.background(run, 'hinting data for its new replicas after a ring change');
  }

  /**
   * After the ring changed, the replicas that joined a partition's
   * preference list lack what this node holds for it (written under the old
   * ring: notably while membership was still converging). Each such key gets
   * a hint for each of them, so hinted handoff delivers it, durably and with
   * ACKs; when this node left the list, every new replica gets one. (Issue
   * 6 streams whole partitions instead; this keeps acknowledged writes
   * findable until then.)
   */
  private async rehint(before: Ring, after: Ring): Promise<void> {
    const n = this.config.n;
    let added = 0;
    for (const p of await this.replica.backend.partitions()) {
      if (this.stopped) return;
      const fresh = preferenceList(after, p, n);
      const old = preferenceList(before, p, n);
      const stays = fresh.includes(this.nodeId);
      const recipients = fresh.filter((x) => x !== this.nodeId && (!stays || !old.includes(x)));
      if (recipients.length === 0) continue;
      const keys: Uint8Array[] = [];
      const store = await this.replica.store(p);
      await store.fold((key) => void keys.push(key.slice()), { keysOnly: true });
      for (const key of keys) {
        for (const target of recipients) {
          await this.hintStore!.add(target, p, key);
          this.gaugeHintsFor(target);
          added++;
        }
      }
    }
    if (added > 0) {
      this.nodeStats.add('ringChangeHints', added);
      this.log('info', `ring change: ${added} hints for replicas that joined preference lists`);
    }
  }

  private onPeerUp(peer: NodeId): void {
    if (!this.started || this.stopped || this.hintStore === undefined || this.hintStore.count(peer) === 0 || this.config.handoff === false) return;
    this.background(this.handoff.deliverTo(peer), `handoff to ${peer}`);
  }

  // ------------------------------------------------------------------ KvService

  get(key: Uint8Array, r: number, timeoutMs: number): Promise<ReadResult> {
    if (this.ringChanges === 0) this.coordinatedOnFirstRing ||= this.heard;
    return this.coordinator.get(key, r, timeoutMs);
  }

  put(key: Uint8Array, value: Uint8Array | null, context: Uint8Array, w: number, timeoutMs: number): Promise<WriteResult> {
    if (this.ringChanges === 0) this.coordinatedOnFirstRing ||= this.heard;
    return this.coordinator.put(key, value, context, w, timeoutMs);
  }

  stats(): Record<string, number> {
    return {
      n: this.config.n,
      r: this.config.r,
      w: this.config.w,
      members: this.memberCount(),
      hintsPending: this.hintStore?.count() ?? 0,
      readRepairs: this.nodeStats.counter('readRepairs'),
      forwarded: this.nodeStats.counter('forwarded'),
      // Client requests this node was not a target for (once each; `forwarded` counts every FORWARD sent, retries included).
      forwardedRequests: this.nodeStats.counter('forwardedRequests'),
      hintsStored: this.nodeStats.counter('hintsStored'),
      hintsDelivered: this.nodeStats.counter('hintsDelivered'),
      peerRequestFailures: this.nodeStats.counter('peerRequestFailures'),
      ringChangeHints: this.nodeStats.counter('ringChangeHints'),
      aaeExchanges: this.nodeStats.counter('aaeExchanges'),
      aaeSegmentsCompared: this.nodeStats.counter('aaeSegmentsCompared'),
      aaeKeysRepaired: this.nodeStats.counter('aaeKeysRepaired'),
      aaeBytesSent: this.nodeStats.counter('aaeBytesSent'),
      aaeTombstonesReaped: this.nodeStats.counter('aaeTombstonesReaped'),
      aaeTombstones: this.antiEntropy.tombstoneCount(),
      ...this.transport.counters?.(),
    };
  }

  // ------------------------------------------------------------------ peers

  handlePeer(from: NodeId, request: PeerRequest): Promise<PeerReply> {
    if (this.hintStore === undefined) return Promise.reject(new KvError('KV_UNAVAILABLE', 'node is starting'));
    if (request.type === 'FORWARD' && this.ringChanges === 0) this.coordinatedOnFirstRing ||= this.heard;
    return this.handler.handle(from, request);
  }

  // ------------------------------------------------------------------ introspection

  ringVersion(): bigint {
    return this.ringState.version;
  }

  memberCount(): number {
    let n = 0;
    for (const e of this.gossiper.view.values()) if (e.status === 'joining' || e.status === 'up' || e.status === 'leaving') n++;
    return n;
  }

  /** False until this node heard from another one; client requests get KV_UNAVAILABLE until then. */
  isReady(): boolean {
    return this.heard;
  }

  /** This node's local verdict on a peer (for tests and the simulation's checks). */
  isUp(node: NodeId): boolean {
    return this.gossiper.isUp(node);
  }

  status(): ClusterStatus {
    const ring = this.ringState.ring;
    const owned = new Map<NodeId, number>();
    for (const o of ring.owners) owned.set(o, (owned.get(o) ?? 0) + 1);
    const members: MemberStatus[] = [...this.gossiper.view.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((e) => ({
        id: e.id,
        address: e.address,
        status: e.status,
        incarnation: e.incarnation,
        heartbeat: e.heartbeat,
        up: this.gossiper.isUp(e.id),
        phi: this.gossiper.phiOf(e.id),
        partitions: owned.get(e.id) ?? 0,
      }));
    let held = 0;
    for (let p = 0; p < ring.partitionCount; p++) if (preferenceList(ring, p, this.config.n).includes(this.nodeId)) held++;
    return {
      nodeId: this.nodeId,
      ringVersion: this.ringState.version.toString(16).padStart(16, '0'),
      members,
      partitionsHeld: held,
      hintsPending: this.hintStore?.counts() ?? {},
      aae: this.antiEntropy.partitionStatus(),
    };
  }
}

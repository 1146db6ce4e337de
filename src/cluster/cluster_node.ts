/**
 * A cluster node: the coordinator (client requests over N replicas), the
 * replica handler (peer requests), hinted handoff, and gossip with failure
 * detection, wired to the effects of src/cluster/effects.ts only. The same
 * object runs in production (TcpTransport, real clock) and in the
 * deterministic simulation (src/cluster/sim/).
 */
import * as E from 'fp-ts/lib/Either.js';
import * as O from 'fp-ts/lib/Option.js';
import * as M from '../core/membership.js';
import { preferenceList, sameOwners, type Ring } from '../core/ring.js';
import * as RP from '../core/ring_plan.js';
import type { NodeId } from '../core/types.js';
import { KvError, isKvError } from '../errors.js';
import type { Admin, PeerReply, PeerRequest, RingExchange, RingExchangeReply } from '../../protocol/peer_messages.js';
import { decodeClusterRing, encodeClusterRing } from '../../protocol/ring_plan.js';
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
import { MetaStore } from './meta.js';
import { ReplicaHandler } from './replica_handler.js';
import { claimMembers, RingState } from './ring_state.js';
import { Transfers } from './transfers.js';

export const DEFAULT_MAX_TRANSFERS = 2;
const RING_META_KEY = 'ring';
/** Keys a background loop (ring-change hinting, dropping handed-off data) handles per event-loop turn. */
const BACKGROUND_BATCH = 128;

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
  private meta: MetaStore | undefined;
  private readonly transfers: Transfers;
  /** The epoch each peer last reported in a ring exchange (a fresh cluster forms only when all say 0). */
  private readonly peerEpochs = new Map<NodeId, number>();
  /** When this node first saw the pending plan it now holds (transfers wait one gossip interval, see ringRound). */
  private planSeen: { readonly id: string; readonly atMs: number } | undefined;
  private leaving = false;
  private broadcastPending = false;
  private ringRounds = 0;
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
    this.ringState = new RingState(options.config.partitionBits, options.config.n, options.nodeId);
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
      ring: (p) => this.ringState.routeRing(p),
      extraTargets: (p) => this.ringState.extraTargets(p),
      isUp,
      ready: () => this.heard && this.ringState.cluster.epoch > 0,
      request: (to, req, timeoutMs, suspect) => this.request(to, req, timeoutMs, suspect),
      background: (work, what) => this.background(work, what),
    });
    this.handler = new ReplicaHandler({
      self: options.nodeId,
      replica: options.replica,
      addHint,
      primariesOf: (p) => this.ringState.holdersOf(p),
      coordinator: this.coordinator,
      gossiper: this.gossiper,
      antiEntropy: (req) => this.antiEntropy.handle(req),
      ringExchange: (from, r) => this.serveRingExchange(from, r),
      transferFetch: (f) => this.transfers.serveFetch(f),
      admin: (a) => this.admin(a),
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
    this.transfers = new Transfers({
      self: options.nodeId,
      n: options.config.n,
      replica: options.replica,
      meta: () => {
        if (this.meta === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
        return this.meta;
      },
      clock: options.clock,
      stats: options.stats,
      // A slow chunk says nothing about the peer's health: keep it out of the failure detector.
      request: (to, req, timeoutMs) => this.request(to, req, timeoutMs, false),
      usable: (x) => this.gossiper.isUp(x) && this.gossiper.view.get(x)?.status !== 'removed',
      ring: () => this.ringState.cluster,
      finished: (p) => this.setRing(RP.markDone(this.ringState.cluster, p, this.nodeId, options.config.n), true),
      maxTransfers: () => options.config.maxTransfers ?? DEFAULT_MAX_TRANSFERS,
      ...(options.config.transferChunkKeys !== undefined ? { chunkItems: options.config.transferChunkKeys } : {}),
      rateBytes: () => options.config.transferRateBytes ?? 0,
      peerTimeoutMs: options.config.peerTimeoutMs,
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
    this.meta = await MetaStore.open(this.options.hintBackend);
    const saved = this.meta.get(RING_META_KEY);
    if (saved !== undefined) {
      const decoded = decodeClusterRing(saved);
      if (E.isRight(decoded) && decoded.right.current.qBits === this.config.partitionBits) this.ringState.set(decoded.right);
      else this.log('warn', 'the saved cluster ring does not decode; learning it from peers');
    }
    // Trees first: no write may reach the replica while they are built.
    await this.antiEntropy.start(this.options.savedTrees);
    this.transport.serve((from, req) => this.handlePeer(from, req));
    // First round now: a joining node introduces itself to its seeds at once.
    this.every(this.config.gossipIntervalMs, () => this.gossiper.runRound(), 'gossip', true);
    this.every(this.config.gossipIntervalMs, () => this.ringRound(), 'ring', true);
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

  /**
   * Lets timers and I/O run (gossip, peer replies, client requests) before
   * more background work: a store's writes can complete without leaving the
   * microtask queue, so a loop over thousands of keys would otherwise hold
   * the event loop until it ends, and peers would suspect this node.
   */
  private yieldTurn(): Promise<void> {
    return new Promise((resolve) => void this.clock.setTimer(0, resolve));
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
    // Membership moved: the claimant may propose at once (the ring round would, one interval later).
    if (!this.started || this.stopped) return;
    this.maybePropose();
    // Still without a ring: ask the members heard of just now whether they have one.
    if (this.ringState.cluster.epoch === 0) {
      for (const id of this.gossiper.view.keys()) {
        if (id !== this.nodeId && !this.peerEpochs.has(id)) this.background(this.exchangeWith(id), `ring exchange with ${id}`);
      }
    }
  }

  // ------------------------------------------------------------------ the cluster ring (issue 6)

  /**
   * Which node proposes ring changes: the lowest id among the claim members
   * this node believes up (itself always). Views may disagree for a moment;
   * two concurrent proposals resolve by core/ring_plan's order.
   */
  private isClaimant(members: readonly RP.Member[]): boolean {
    for (const m of members) if (m.id === this.nodeId || this.gossiper.isUp(m.id)) return m.id === this.nodeId;
    return false;
  }

  private maybePropose(): void {
    if (!this.heard) return;
    const view = this.gossiper.view;
    const members = claimMembers(view);
    if (members.length === 0) return;
    const r = this.ringState.cluster;
    if (r.epoch === 0) {
      // A fresh cluster: only when every other member has told this node it has no ring either,
      // so a new node never founds a ring of its own beside an existing cluster.
      if (!members.some((m) => m.id === this.nodeId)) return;
      if (!this.isClaimant(members)) return;
      for (const m of members) if (m.id !== this.nodeId && this.peerEpochs.get(m.id) !== 0) return;
    } else if (!this.isClaimant(members)) return;
    this.setRing(RP.propose(r, members, this.config.n, this.nodeId), true);
  }

  private maybeCommit(): void {
    const c = RP.commit(this.ringState.cluster, this.config.n);
    if (c !== null) this.setRing(c, true);
  }

  /** One ring round: propose, commit, exchange with a random peer, start transfers. */
  private async ringRound(): Promise<void> {
    this.maybePropose();
    this.maybeCommit();
    this.background(this.retargetHints(), 'retargeting hints of nodes that left');
    if (this.ringRounds % 5 === 0) this.background(this.dropHandedOff(), 'dropping data handed off');
    const r = this.ringState.cluster;
    if (r.next !== null) {
      const id = `${r.epoch}/${r.committer}`;
      if (this.planSeen?.id !== id) this.planSeen = { id, atMs: this.clock.now() };
      // Coordinators learn a plan within about one gossip interval; a transfer that started
      // before they did could pass a key they then write to the old replicas only.
      if (this.clock.now() - this.planSeen.atMs >= this.config.gossipIntervalMs) this.startTransfers();
    }
    // Without a ring yet, ask everyone: the cluster is found (or founded) in one round.
    if (r.epoch === 0) return this.sendRingToAll();
    // Changes are pushed to everyone when they happen; this periodic exchange only repairs what a
    // lost message missed, so a settled ring is exchanged every third round.
    if (r.next === null && this.ringRounds++ % 3 !== 0) return;
    const peer = M.pickGossipPeer(this.gossiper.view, this.nodeId, this.options.random);
    if (O.isSome(peer)) await this.exchangeWith(peer.value);
  }

  /**
   * Hints for a node in neither the current nor the next ring (it left or
   * was removed; hints are only ever taken for ring members, as fallbacks or
   * double-write targets) may never be delivered: each becomes a
   * hint for the partition's holders now, so what this node keeps on the
   * leaver's behalf still reaches the nodes that serve it.
   */
  private async retargetHints(): Promise<void> {
    const hs = this.hintStore;
    if (hs === undefined || this.stopped) return;
    const r = this.ringState.cluster;
    if (r.epoch === 0) return;
    const inRing = new Set([...r.current.nodes, ...(r.next?.nodes ?? [])]);
    for (const target of hs.targets()) {
      if (inRing.has(target) || target === this.nodeId) continue;
      let moved = 0;
      for (const h of hs.pending(target)) {
        if (moved % BACKGROUND_BATCH === BACKGROUND_BATCH - 1) await this.yieldTurn();
        for (const x of this.ringState.holdersOf(h.partition)) {
          if (x === this.nodeId) continue;
          await hs.add(x, h.partition, h.key);
          this.gaugeHintsFor(x);
        }
        if (await hs.removeIfUnchanged(h)) moved++;
      }
      if (moved > 0) this.log('info', `${moved} hints for ${target}, which left the ring, now go to the partitions' replicas`);
    }
  }

  /**
   * Deletes what this node holds in partitions it no longer replicates once
   * it was handed on: the ring is settled, the key has no pending hint (the
   * ring-change hints and fallback hints were delivered and acknowledged),
   * and the stored bytes are still those just read (a write that slipped in
   * is kept; ReplicaHandler adopted it as a hint). Closes the gap of a
   * fallback keeping its copy after hinted handoff.
   */
  private async dropHandedOff(): Promise<void> {
    const hs = this.hintStore;
    const r = this.ringState.cluster;
    if (hs === undefined || this.stopped || r.epoch === 0 || r.next !== null) return;
    await this.rehinting;
    let dropped = 0;
    for (const p of await this.replica.backend.partitions()) {
      if (this.stopped || this.ringState.cluster !== r) return;
      if (RP.holdersOf(r, p, this.config.n).includes(this.nodeId)) continue;
      const store = await this.replica.store(p);
      const items: { key: Uint8Array; value: Uint8Array }[] = [];
      await store.fold((key, value) => void items.push({ key: key.slice(), value: value.slice() }));
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        if (i % BACKGROUND_BATCH === BACKGROUND_BATCH - 1) await this.yieldTurn();
        if (hs.pendingFor(p, it.key)) continue;
        if (await this.replica.removeIf(it.key, (stored) => Buffer.compare(stored, it.value) === 0)) dropped++;
      }
    }
    if (dropped > 0) {
      this.nodeStats.add('handedOffDropped', dropped);
      this.log('info', `dropped ${dropped} keys of partitions this node no longer replicates (handed off)`);
    }
  }

  private startTransfers(): void {
    for (const run of this.transfers.tick()) {
      this.background(
        run.then(() => this.startTransfers()),
        'partition transfer',
      );
    }
  }

  private async exchangeWith(peer: NodeId): Promise<void> {
    let reply: PeerReply;
    try {
      reply = await this.request(peer, { type: 'RING_EXCHANGE', ring: encodeClusterRing(this.ringState.cluster) }, this.config.peerTimeoutMs, false);
    } catch {
      return;
    }
    if (reply.type !== 'RING_EXCHANGE_REPLY') return;
    this.mergeRing(peer, reply.ring);
  }

  private mergeRing(from: NodeId, bytes: Uint8Array): void {
    const d = decodeClusterRing(bytes);
    if (E.isLeft(d)) return this.log('warn', `ring from ${from}: ${d.left.message}`);
    const theirs = d.right;
    this.peerEpochs.set(from, theirs.epoch);
    if (theirs.current.qBits !== this.config.partitionBits) return this.log('warn', `ring from ${from} has ${theirs.current.qBits} partition bits, this node ${this.config.partitionBits}`);
    // Provisional rings say only "no ring here"; adopting one would name another node's singleton.
    if (theirs.epoch > 0) this.setRing(RP.merge(this.ringState.cluster, theirs), false);
    // A peer's epoch-0 answer may complete the founding condition.
    if (this.ringState.cluster.epoch === 0) this.maybePropose();
  }

  private serveRingExchange(from: NodeId, request: RingExchange): RingExchangeReply {
    this.mergeRing(from, request.ring);
    return { type: 'RING_EXCHANGE_REPLY', ring: encodeClusterRing(this.ringState.cluster) };
  }

  /** Adopts a new ring value: persist it, tell the peers (own changes), hint data for ownership changes. */
  private setRing(next: RP.ClusterRing, broadcast: boolean): void {
    const before = this.ringState.cluster;
    if (!this.ringState.set(next)) return;
    const after = this.ringState.cluster;
    if (this.meta !== undefined) this.background(this.meta.put(RING_META_KEY, encodeClusterRing(after)), 'saving the ring');
    if (after.epoch !== before.epoch || after.committer !== before.committer) {
      const moving = after.next === null ? 0 : RP.pendingTransfers(after, this.config.n).length;
      this.log('info', `ring epoch ${after.epoch} by ${after.committer}: ${after.next === null ? 'settled' : `${moving} transfers pending`} (version ${this.ringState.version.toString(16)})`);
    }
    if (broadcast) this.broadcastRing();
    if (!sameOwners(before.current, after.current)) this.onOwnershipChanged(before, after);
  }

  /** Pushes the ring to every peer soon: changes made close together (transfers finishing) share one push. */
  private broadcastRing(): void {
    if (this.broadcastPending || this.stopped) return;
    this.broadcastPending = true;
    const timer = this.clock.setTimer(Math.min(50, this.config.gossipIntervalMs / 4), () => {
      this.timers.delete(timer);
      this.broadcastPending = false;
      if (!this.stopped) this.sendRingToAll();
    });
    this.timers.add(timer);
  }

  private sendRingToAll(): void {
    const r = this.ringState.cluster;
    for (const [id, e] of this.gossiper.view) {
      if (id === this.nodeId || e.status === 'removed') continue;
      // A node that left (leaving, and in neither ring) has exited: nothing to tell it.
      if (e.status === 'leaving' && !r.current.nodes.includes(id) && !(r.next?.nodes.includes(id) ?? false)) continue;
      this.background(this.exchangeWith(id), `ring exchange with ${id}`);
    }
  }

  private onOwnershipChanged(before: RP.ClusterRing, after: RP.ClusterRing): void {
    this.ringChanges++;
    // From the provisional ring too: a data dir from before rings were saved holds keys that
    // only hints would carry to their replicas before the janitor drops them.
    if (!this.started || this.stopped) return;
    // Also after the commit of a plan whose transfers placed the data: a copy this node holds may
    // be one of only W acknowledged ones (a sloppy write while a replica was down, simulation seed
    // 51), and the janitor deletes it once no hint names it — so every key of a partition this node
    // leaves is hinted to the new replicas first, and deleted only after they acknowledged it.
    const run = this.rehinting.then(() => this.rehint(before.current, after));
    this.rehinting = run.catch(() => undefined);
    this.background(run, 'handing off data this node no longer replicates');
  }

  private admin(a: Admin): void {
    if (a.op === 'leave') return this.leave();
    if (a.node === '' || a.node === this.nodeId) throw new KvError('KV_BAD_ARGUMENT', 'remove names another node (a node leaves by itself with leave)');
    this.remove(a.node);
  }

  leave(): void {
    if (this.leaving && this.gossiper.view.get(this.nodeId)?.status === 'leaving') return;
    const why = this.gossiper.markStatus(this.nodeId, 'leaving');
    if (why !== null) throw new KvError('KV_BAD_ARGUMENT', why);
    this.leaving = true;
    this.log('info', 'leaving: handing every partition off');
    this.background(this.gossiper.announce(), 'announcing the leave');
  }

  remove(node: NodeId): void {
    const why = this.gossiper.markStatus(node, 'removed');
    if (why !== null) throw new KvError('KV_BAD_ARGUMENT', why);
    this.background(this.gossiper.announce(), 'announcing the removal');
    this.log('info', `${node} removed: its partitions are rebuilt from the other replicas`);
  }

  /** True once a leaving node owns nothing in the settled ring and has handed off every hint. */
  hasLeft(): boolean {
    if (!this.leaving && this.gossiper.view.get(this.nodeId)?.status !== 'leaving') return false;
    const r = this.ringState.cluster;
    if (r.next !== null || r.current.nodes.includes(this.nodeId)) return false;
    return (this.hintStore?.count() ?? 0) === 0;
  }

  currentRing(): Ring {
    return this.ringState.ring;
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
  private async rehint(before: Ring, afterValue: RP.ClusterRing): Promise<void> {
    const n = this.config.n;
    const after = afterValue.current;
    let added = 0;
    for (const p of await this.replica.backend.partitions()) {
      if (this.stopped) return;
      const fresh = preferenceList(after, p, n);
      const old = preferenceList(before, p, n);
      // Nodes entering a list received the partition by transfer; only data this node stops
      // replicating is handed on (writes that reached it from coordinators that missed the plan).
      if (!old.includes(this.nodeId) || RP.holdersOf(afterValue, p, n).includes(this.nodeId)) continue;
      const recipients = fresh.filter((x) => x !== this.nodeId);
      if (recipients.length === 0) continue;
      const keys: Uint8Array[] = [];
      const store = await this.replica.store(p);
      await store.fold((key) => void keys.push(key.slice()), { keysOnly: true });
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i % BACKGROUND_BATCH === BACKGROUND_BATCH - 1) await this.yieldTurn();
        if (this.stopped) return;
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
      ringEpoch: this.ringState.cluster.epoch,
      transfersPending: RP.pendingTransfers(this.ringState.cluster, this.config.n).length,
      transfersRunning: this.transfers.inProgress.length,
      transfersCompleted: this.nodeStats.counter('transfersCompleted'),
      transferKeys: this.nodeStats.counter('transferKeys'),
      transferBytes: this.nodeStats.counter('transferBytes'),
      handedOffDropped: this.nodeStats.counter('handedOffDropped'),
      ...this.transport.counters?.(),
    };
  }

  // ------------------------------------------------------------------ peers

  handlePeer(from: NodeId, request: PeerRequest): PeerReply | Promise<PeerReply> {
    if (this.hintStore === undefined) return Promise.reject(new KvError('KV_UNAVAILABLE', 'node is starting'));
    if (request.type === 'FORWARD' && this.ringChanges === 0) this.coordinatedOnFirstRing ||= this.heard;
    try {
      return this.handler.handle(from, request);
    } catch (e) {
      // A PeerHandler never throws: a synchronous failure becomes a rejection.
      return Promise.reject(e);
    }
  }

  // ------------------------------------------------------------------ introspection

  ringVersion(): bigint {
    return this.ringState.version;
  }

  /**
   * Active members of the view that own partitions in the current ring: a
   * joining node counts once its transfers committed, so readiness checks
   * that wait for every member wait for the ring to include it.
   */
  memberCount(): number {
    const r = this.ringState.cluster;
    // No ring yet: the node counts itself alone, as its own view did before it heard of anyone.
    if (r.epoch === 0) return 1;
    const owners = r.current.nodes;
    let n = 0;
    for (const e of this.gossiper.view.values()) {
      if ((e.status === 'joining' || e.status === 'up' || e.status === 'leaving') && owners.includes(e.id)) n++;
    }
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
      ringEpoch: this.ringState.cluster.epoch,
      ringPending: this.ringState.cluster.next !== null,
      transfersPending: RP.pendingTransfers(this.ringState.cluster, this.config.n).length,
      transfers: this.transfers.inProgress.map((t) => {
        const elapsedMs = Math.max(1, this.clock.now() - t.startedMs);
        const keysPerMs = t.keys / elapsedMs;
        const left = t.keysTotal - t.keys;
        return {
          partition: t.partition,
          source: t.source,
          target: t.target,
          keys: t.keys,
          bytes: t.bytes,
          keysTotal: t.keysTotal,
          bytesPerSec: Math.round((t.bytes * 1000) / elapsedMs),
          etaMs: keysPerMs > 0 && t.keysTotal > 0 ? Math.max(0, Math.round(left / keysPerMs)) : -1,
        };
      }),
    };
  }
}

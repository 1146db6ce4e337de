/**
 * Membership and failure detection for one node: the gossiped view
 * (core/membership), a phi-accrual detector per peer (core/phi) fed by that
 * peer's heartbeat counter rising in the view, and the node's own request
 * failures (core/phi `suspicion`). Detection is local: `isUp` is this node's
 * verdict and no one else's (docs/cluster.md, "Membership and failure
 * detection").
 *
 * The Gossiper does not own a timer: `round()` is called every
 * gossipIntervalMs by the ClusterNode, so the simulation drives it through
 * its Clock like everything else.
 */
import * as O from 'fp-ts/lib/Option.js';
import * as M from '../core/membership.js';
import * as Phi from '../core/phi.js';
import type { NodeId } from '../core/types.js';
import type { Gossip, GossipReply, MembershipEntryWire, PeerReply } from '../../protocol/peer_messages.js';
import type { ClusterConfig } from './api.js';
import type { Clock, Random, Transport } from './effects.js';

export interface GossiperOptions {
  readonly self: NodeId;
  readonly address: string;
  readonly weight: number;
  readonly incarnation: number;
  readonly seeds: readonly string[];
  readonly config: ClusterConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  /** The active member set may have changed (rebuild the ring). */
  readonly onViewChanged: () => void;
  /** A peer this node suspected has sent a fresh heartbeat (deliver its hints). */
  readonly onPeerUp: (peer: NodeId) => void;
  /** Entries from another node were merged (this node has heard from the cluster). */
  readonly onHeard: () => void;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

interface Detector {
  incarnation: number;
  heartbeat: number;
  phi: Phi.PhiState;
  suspicion: Phi.Suspicion;
}

/** Every 5th round also talks to a seed, so partitioned groups that share a seed find each other again. */
export const SEED_EVERY_ROUNDS = 5;

export const toWire = (e: M.Entry): MembershipEntryWire => ({
  id: e.id,
  address: e.address,
  status: e.status,
  incarnation: e.incarnation,
  heartbeat: e.heartbeat,
  claimVersion: e.claimVersion,
  weight: e.weight,
});

/** The entry a wire entry describes, or the reason it is unusable. */
export const fromWire = (w: MembershipEntryWire): M.Entry | string => {
  if (!(M.statuses as readonly string[]).includes(w.status)) return `unknown status ${JSON.stringify(w.status)}`;
  const e: M.Entry = {
    id: w.id,
    address: w.address,
    status: w.status as M.Status,
    incarnation: w.incarnation,
    heartbeat: w.heartbeat,
    claimVersion: w.claimVersion,
    weight: w.weight,
  };
  return M.invalidEntry(e) ?? e;
};

export class Gossiper {
  private currentView: M.View;
  private readonly detectors = new Map<NodeId, Detector>();
  private readonly step: (s: Phi.Suspicion, e: Phi.SuspicionEvent) => Phi.Suspicion;
  private readonly phiConfig: Partial<Phi.PhiConfig>;
  private rounds = 0;

  constructor(private readonly o: GossiperOptions) {
    this.currentView = M.fromEntries([
      M.entry(o.self, o.address, { weight: o.weight, incarnation: o.incarnation, status: 'up' }),
    ]);
    this.step = Phi.suspicion({ maxConsecutiveFailures: o.config.maxConsecutiveFailures, threshold: o.config.phiThreshold });
    // Heartbeats reach this node indirectly (whoever gossips to it next), so
    // gaps of a few rounds are normal: with no allowance, 5 healthy nodes saw
    // 13 false suspicions in 120 simulated seconds, with 2 rounds none up to
    // 8 nodes (measured with test/helpers/fake_transport.ts, no delays).
    this.phiConfig = {
      threshold: o.config.phiThreshold,
      firstHeartbeatEstimateMs: o.config.gossipIntervalMs,
      acceptableHeartbeatPauseMs: 2 * o.config.gossipIntervalMs,
    };
  }

  get view(): M.View {
    return this.currentView;
  }

  get round(): number {
    return this.rounds;
  }

  /** This node's verdict on `node`: itself always; an unknown node never; a peer unless suspected. */
  isUp(node: NodeId): boolean {
    if (node === this.o.self) return true;
    const d = this.detectors.get(node);
    if (d === undefined) return false;
    return !d.suspicion.down && Phi.phi(d.phi, this.o.clock.now()) < this.o.config.phiThreshold;
  }

  phiOf(node: NodeId): number {
    const d = this.detectors.get(node);
    return d === undefined ? 0 : Phi.phi(d.phi, this.o.clock.now());
  }

  /** A request to `node` failed at the network level (timeout, refused, closed). */
  requestFailed(node: NodeId): void {
    const d = this.detectors.get(node);
    if (d !== undefined) d.suspicion = this.step(d.suspicion, { type: 'requestFailed' });
  }

  requestSucceeded(node: NodeId): void {
    const d = this.detectors.get(node);
    if (d !== undefined) d.suspicion = this.step(d.suspicion, { type: 'requestSucceeded' });
  }

  /**
   * An operator's change of a member's status (this node leaving, or another
   * removed); moves forward only, as core/membership markStatus. Returns why
   * it was refused, or null.
   */
  markStatus(id: NodeId, status: M.Status): string | null {
    const r = M.markStatus(this.currentView, id, status);
    if (r._tag === 'Left') return r.left;
    this.setView(r.right);
    return null;
  }

  /** Sends the view to every known peer now (a status change others must not miss, e.g. leaving). */
  async announce(): Promise<void> {
    const peers = [...this.currentView.values()].filter((e) => e.id !== this.o.self && e.status !== 'removed').map((e) => e.id);
    await Promise.all(peers.map((p) => this.gossipTo(p)));
  }

  /** Merges entries from a peer (its GOSSIP or GOSSIP_REPLY) into the view. */
  mergeWire(entries: readonly MembershipEntryWire[]): void {
    const good: M.Entry[] = [];
    for (const w of entries) {
      const e = fromWire(w);
      if (typeof e === 'string') this.o.log('warn', `gossip: ignoring entry of ${String(w.id)}: ${e}`);
      else good.push(e);
    }
    this.setView(M.applyEntries(this.currentView, good));
    if (good.some((e) => e.id !== this.o.self)) this.o.onHeard();
  }

  /** Serves a peer's GOSSIP: merge, then answer with the whole view (small: one entry per node). */
  handleGossip(request: Gossip): GossipReply {
    this.mergeWire(request.entries);
    return { type: 'GOSSIP_REPLY', entries: this.wireEntries() };
  }

  wireEntries(): MembershipEntryWire[] {
    return [...this.currentView.values()].map(toWire);
  }

  /**
   * One gossip round: bump the own heartbeat, refresh suspicions, and send
   * the view to one random peer, plus a seed every SEED_EVERY_ROUNDS rounds
   * (and every round while no peer is known). Resolves when the exchanges
   * end; never rejects.
   */
  async runRound(): Promise<void> {
    this.rounds++;
    this.setView(M.bumpHeartbeat(this.currentView, this.o.self));
    const now = this.o.clock.now();
    for (const d of this.detectors.values()) {
      d.suspicion = this.step(d.suspicion, { type: 'phi', phi: Phi.phi(d.phi, now) });
    }
    const sends: Promise<void>[] = [];
    const peer = M.pickGossipPeer(this.currentView, this.o.self, this.o.random);
    if (O.isSome(peer)) sends.push(this.gossipTo(peer.value));
    const seeds = this.o.seeds.filter((s) => s !== this.o.address);
    if (seeds.length > 0 && (O.isNone(peer) || this.rounds % SEED_EVERY_ROUNDS === 1)) {
      const seed = seeds[Math.min(seeds.length - 1, Math.floor(this.o.random.next() * seeds.length))]!;
      sends.push(this.gossipToSeed(seed));
    }
    await Promise.all(sends);
  }

  private request(): Gossip {
    return { type: 'GOSSIP', entries: this.wireEntries() };
  }

  private async gossipTo(peer: NodeId): Promise<void> {
    let reply: PeerReply;
    try {
      reply = await this.o.transport.request(peer, this.request(), this.o.config.peerTimeoutMs);
    } catch {
      this.requestFailed(peer);
      return;
    }
    this.requestSucceeded(peer);
    if (reply.type === 'GOSSIP_REPLY') this.mergeWire(reply.entries);
  }

  private async gossipToSeed(address: string): Promise<void> {
    try {
      const { from, reply } = await this.o.transport.requestAddress(address, this.request(), this.o.config.peerTimeoutMs);
      if (from !== this.o.self && reply.type === 'GOSSIP_REPLY') this.mergeWire(reply.entries);
    } catch {
      // A seed that is down is not news: it has a detector of its own once known by id.
    }
  }

  private setView(next: M.View): void {
    const prev = this.currentView;
    if (next === prev) return;
    // Others say this node is down or removed: refute with a new incarnation.
    if (M.needsRefute(next, this.o.self)) next = M.restart(next, this.o.self);
    this.currentView = next;
    const now = this.o.clock.now();
    let membersChanged = false;
    for (const [id, e] of next) {
      const old = prev.get(id);
      if (old === undefined || old.status !== e.status || old.weight !== e.weight) membersChanged = true;
      if (id === this.o.self) continue;
      if (old === undefined || old.address !== e.address) this.o.transport.setAddress(id, e.address);
      this.observe(e, now);
    }
    if (membersChanged) this.o.onViewChanged();
  }

  /** Feeds the detector of `e.id` when its heartbeat (or incarnation) moved. */
  private observe(e: M.Entry, now: number): void {
    const d = this.detectors.get(e.id);
    if (d === undefined) {
      this.detectors.set(e.id, {
        incarnation: e.incarnation,
        heartbeat: e.heartbeat,
        phi: Phi.heartbeat(Phi.init(this.phiConfig), now),
        suspicion: Phi.healthy,
      });
      return;
    }
    const restarted = e.incarnation > d.incarnation;
    if (!restarted && !(e.incarnation === d.incarnation && e.heartbeat > d.heartbeat)) return;
    const wasUp = this.isUp(e.id);
    d.incarnation = e.incarnation;
    d.heartbeat = e.heartbeat;
    // A restart's downtime is not an inter-arrival time: start a fresh window.
    d.phi = Phi.heartbeat(restarted ? Phi.init(this.phiConfig) : d.phi, now);
    d.suspicion = this.step(d.suspicion, { type: 'heartbeat' });
    if (!wasUp) {
      this.o.log('info', `${e.id} is up again (fresh heartbeat)`);
      this.o.onPeerUp(e.id);
    }
  }
}

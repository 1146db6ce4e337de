/**
 * A tiny in-memory network and a manual clock for the cluster unit tests
 * (the full deterministic simulation, with drops, delays and reordering from
 * a seed, is src/cluster/sim/). Messages are delivered on the next microtask;
 * a request to an unreachable node is dropped and times out on the clock.
 */
import { KvError, isKvError } from '../../src/errors.js';
import type { Clock, PeerHandler, Random, Timer, Transport } from '../../src/cluster/effects.js';
import type { NodeId } from '../../src/core/types.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import { ClusterNode } from '../../src/cluster/cluster_node.js';
import { defaultClusterConfig, type ClusterConfig } from '../../src/cluster/api.js';
import { Replica } from '../../src/node/replica.js';
import { NodeStats } from '../../src/node/stats.js';
import { createMemoryBackend } from '../../src/storage/memory.js';
import type { StorageBackend } from '../../src/storage/backend.js';

/** Lets promise chains and the memory backend's immediates run. */
export const settle = async (rounds = 30): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
};

interface Pending {
  readonly atMs: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private nowMs = 0;
  private seq = 0;
  private timers: Pending[] = [];

  now(): number {
    return this.nowMs;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const t: Pending = { atMs: this.nowMs + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  /** Moves time forward by `ms`, firing due timers in time order, settling promises after each. */
  async advance(ms: number): Promise<void> {
    const endMs = this.nowMs + ms;
    await settle();
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: Pending | undefined;
      for (const t of this.timers) if (t.atMs <= endMs && (next === undefined || t.atMs < next.atMs || (t.atMs === next.atMs && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.nowMs = Math.max(this.nowMs, next.atMs);
      next.fn();
      await settle(4);
    }
    this.nowMs = endMs;
    await settle();
  }
}

/** mulberry32: a small seeded generator, enough for picking gossip peers. */
export const seededRandom = (seed: number): Random => {
  let a = seed >>> 0;
  return {
    next: () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
};

/** Says whether a message (request or its reply) gets through; false drops it. */
export type Filter = (from: NodeId, to: NodeId, request: PeerRequest, leg: 'request' | 'reply') => boolean;

export class FakeNetwork {
  private readonly handlers = new Map<NodeId, PeerHandler>();
  private readonly byAddress = new Map<string, NodeId>();
  /** Nodes cut off from everyone (a crashed or frozen process, seen from outside). */
  readonly isolated = new Set<NodeId>();
  filter: Filter = () => true;
  /** How a request reaches its handler: next microtask by default; a bench passes setImmediate so timers still run under load. */
  defer: (fn: () => void) => void = (fn) => void Promise.resolve().then(fn);
  /** Every request delivered, for assertions. */
  readonly delivered: { readonly from: NodeId; readonly to: NodeId; readonly type: PeerRequest['type'] }[] = [];

  constructor(readonly clock: ManualClock) {}

  transport(self: NodeId, address: string = self): Transport {
    this.byAddress.set(address, self);
    return new FakeTransport(this, self);
  }

  reachable(from: NodeId, to: NodeId): boolean {
    return !this.isolated.has(from) && !this.isolated.has(to);
  }

  handler(node: NodeId): PeerHandler | undefined {
    return this.handlers.get(node);
  }

  serve(node: NodeId, handler: PeerHandler | undefined): void {
    if (handler === undefined) this.handlers.delete(node);
    else this.handlers.set(node, handler);
  }

  idOf(address: string): NodeId | undefined {
    return this.byAddress.get(address);
  }
}

class FakeTransport implements Transport {
  private closed = false;

  constructor(
    private readonly net: FakeNetwork,
    private readonly self: NodeId,
  ) {}

  request(to: NodeId, request: PeerRequest, timeoutMs: number): Promise<PeerReply> {
    if (this.closed) return Promise.reject(new KvError('KV_CLOSED', 'transport closed'));
    const net = this.net;
    return new Promise<PeerReply>((resolve, reject) => {
      let done = false;
      const timer = net.clock.setTimer(timeoutMs, () => {
        if (done) return;
        done = true;
        reject(new KvError('KV_TIMEOUT', `${request.type} to ${to} timed out after ${timeoutMs} ms`));
      });
      const finish = (f: () => void): void => {
        if (done) return;
        done = true;
        timer.cancel();
        f();
      };
      if (!net.reachable(this.self, to) || !net.filter(this.self, to, request, 'request')) return;
      const handler = net.handler(to);
      if (handler === undefined) return; // nobody listening: like a dead host, the request times out
      net.delivered.push({ from: this.self, to, type: request.type });
      net.defer(() =>
        void Promise.resolve()
          .then(() => handler(this.self, request))
          .then(
          (reply) => {
            if (!net.reachable(this.self, to) || !net.filter(this.self, to, request, 'reply')) return;
            if (reply.type === 'PEER_ERROR') finish(() => reject(new KvError(reply.code as never, reply.message)));
            else finish(() => resolve(reply));
          },
          (e: unknown) => {
            if (!net.reachable(this.self, to) || !net.filter(this.self, to, request, 'reply')) return;
            finish(() => reject(isKvError(e) ? new KvError(e.code, e.message) : new KvError('KV_INTERNAL', String(e))));
          },
        ),
      );
    });
  }

  async requestAddress(address: string, request: PeerRequest, timeoutMs: number): Promise<{ readonly from: NodeId; readonly reply: PeerReply }> {
    const id = this.net.idOf(address);
    if (id === undefined) throw new KvError('KV_UNAVAILABLE', `nothing listens at ${address}`);
    return { from: id, reply: await this.request(id, request, timeoutMs) };
  }

  serve(handler: PeerHandler): void {
    this.net.serve(this.self, handler);
  }

  setAddress(_node: NodeId, _address: string): void {}

  async close(): Promise<void> {
    this.closed = true;
    this.net.serve(this.self, undefined);
  }
}

// ---------------------------------------------------------------------------
// a cluster of ClusterNodes over the fake network, for the unit tests

export interface TestMember {
  readonly id: NodeId;
  node: ClusterNode;
  readonly replica: Replica;
  readonly hintBackend: StorageBackend;
  stats: NodeStats;
  incarnation: number;
  /** Relative capacity (`--weight`); default 1. */
  readonly weight?: number;
}

export class TestCluster {
  readonly clock = new ManualClock();
  readonly net = new FakeNetwork(this.clock);
  readonly members = new Map<NodeId, TestMember>();
  readonly logs: string[] = [];

  private constructor(readonly config: ClusterConfig) {}

  /** Starts nodes `ids` (all joining through the first) and lets gossip converge. */
  static async start(ids: readonly NodeId[], config: Partial<ClusterConfig> = {}, converge = true): Promise<TestCluster> {
    const c = new TestCluster({ ...defaultClusterConfig, ...config });
    for (const id of ids) {
      const replica = new Replica({ backend: await createMemoryBackend({}), replicaId: `${id}/1`, partitionBits: c.config.partitionBits });
      const hintBackend = await createMemoryBackend({});
      const m: TestMember = { id, node: undefined as unknown as ClusterNode, replica, hintBackend, stats: new NodeStats(0), incarnation: 1 };
      m.node = c.makeNode(m, ids[0]!);
      c.members.set(id, m);
      await m.node.start();
    }
    if (converge) await c.converge();
    return c;
  }

  private makeNode(m: TestMember, seed: NodeId): ClusterNode {
    return new ClusterNode({
      nodeId: m.id,
      address: m.id,
      weight: m.weight ?? 1,
      seeds: m.id === seed ? [] : [seed],
      incarnation: m.incarnation,
      config: this.config,
      replica: m.replica,
      hintBackend: m.hintBackend,
      clock: this.clock,
      random: seededRandom(m.id.split('').reduce((a, ch) => a * 31 + ch.charCodeAt(0), 7)),
      transport: this.net.transport(m.id),
      stats: m.stats,
      log: (level, msg) => void this.logs.push(`${m.id} ${level} ${msg}`),
    });
  }

  /** Advances the clock until every running node counts every member and all settled on one ring (bounded). */
  async converge(maxRounds = 30): Promise<void> {
    const want = this.members.size;
    for (let i = 0; i < maxRounds; i++) {
      const nodes = [...this.members.values()].map((m) => m.node);
      const settled = nodes.every((n) => n.status().ringEpoch! > 0 && n.status().ringPending === false && n.currentRing().nodes.length === want);
      if (settled && new Set(nodes.map((n) => n.ringVersion())).size === 1 && nodes.every((n) => n.memberCount() === want)) return;
      await this.clock.advance(this.config.gossipIntervalMs);
    }
    throw new Error(`gossip did not converge in ${maxRounds} rounds`);
  }

  /** Starts one more node joining through `seed` (no waiting for convergence). */
  async join(id: NodeId, seed: NodeId, weight = 1): Promise<ClusterNode> {
    const replica = new Replica({ backend: await createMemoryBackend({}), replicaId: `${id}/1`, partitionBits: this.config.partitionBits });
    const m: TestMember = { id, node: undefined as unknown as ClusterNode, replica, hintBackend: await createMemoryBackend({}), stats: new NodeStats(0), incarnation: 1, weight };
    m.node = this.makeNode(m, seed);
    this.members.set(id, m);
    await m.node.start();
    return m.node;
  }

  node(id: NodeId): ClusterNode {
    return this.members.get(id)!.node;
  }

  /** Stops a node's process: timers stop and nothing reaches it any more. */
  async crash(id: NodeId): Promise<void> {
    const m = this.members.get(id)!;
    await m.node.stop();
    this.net.serve(id, undefined);
    this.net.isolated.add(id);
  }

  /** Starts a crashed node again on the same replica and hint stores, with a higher incarnation. */
  async restart(id: NodeId): Promise<ClusterNode> {
    const m = this.members.get(id)!;
    await m.node.stop();
    m.incarnation++;
    m.stats = new NodeStats(this.clock.now());
    const seed = [...this.members.keys()].find((x) => x !== id)!;
    m.node = this.makeNode(m, seed);
    this.net.isolated.delete(id);
    await m.node.start();
    return m.node;
  }

  /** Advances time until `pred` holds (bounded); throws if it never does. */
  async until(pred: () => boolean, stepMs = 250, maxMs = 60_000): Promise<void> {
    for (let t = 0; t <= maxMs; t += stepMs) {
      if (pred()) return;
      await this.clock.advance(stepMs);
    }
    throw new Error(`condition not reached within ${maxMs} virtual ms`);
  }

  async stopAll(): Promise<void> {
    for (const m of this.members.values()) await m.node.stop();
  }
}

/**
 * The simulated network between the nodes of one world: every message is an
 * event of the Scheduler, delivered after a seeded delay (so messages
 * overtake each other: reordering), dropped with a seeded probability, or
 * blocked by a partition until it heals. A request to a node that is down
 * is refused (as a TCP connection to a dead port is); a request or reply
 * lost on the way is noticed only by the sender's timeout.
 *
 * Messages are copied on the way (structuredClone), as bytes on a wire
 * would be, so no node can reach into another's memory through them.
 */
import { KvError, isErrorCode } from '../../errors.js';
import type { NodeId } from '../../core/types.js';
import type { PeerReply, PeerRequest } from '../../../protocol/peer_messages.js';
import type { PeerHandler, Timer, Transport } from '../effects.js';
import type { SeededRandom } from './random.js';
import type { Scheduler, SimClock } from './scheduler.js';

export interface NetworkFaults {
  /** Probability that one message (request or reply) is lost. */
  readonly dropRate: number;
  /** Delay of a message, uniform in [minDelayMs, maxDelayMs]. */
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Probability that a message takes a long detour instead, uniform in (maxDelayMs, slowDelayMs]. */
  readonly slowRate: number;
  readonly slowDelayMs: number;
}

export const calmNetwork: NetworkFaults = { dropRate: 0, minDelayMs: 1, maxDelayMs: 5, slowRate: 0, slowDelayMs: 5 };

export interface NetworkCounters {
  sent: number;
  delivered: number;
  dropped: number;
  blocked: number;
  refused: number;
}

/** A short description of a message for the trace. */
export const describe = (m: PeerRequest | PeerReply): string => {
  switch (m.type) {
    case 'REPLICA_GET':
      return `REPLICA_GET p${m.partition} ${hex(m.key)}`;
    case 'REPLICA_PUT':
      return `REPLICA_PUT p${m.partition} ${hex(m.key)} ${m.object.length}B${m.hintFor === '' ? '' : ` hint:${m.hintFor}`}`;
    case 'REPLICA_PUT_BATCH':
      return `REPLICA_PUT_BATCH ${m.items.length}`;
    case 'FORWARD':
      return `FORWARD ${m.op} ${hex(m.key)}`;
    case 'GOSSIP':
      return `GOSSIP ${m.entries.map((e) => `${e.id}:${e.status}:${e.incarnation}:${e.heartbeat}`).join(',')}`;
    case 'REPLICA_GET_REPLY':
      return `REPLICA_GET_REPLY ${m.found ? `${m.object.length}B` : 'none'}`;
    case 'ACK':
      return `ACK ${m.count}`;
    case 'FORWARD_REPLY':
      return `FORWARD_REPLY ${m.siblings.length}`;
    case 'GOSSIP_REPLY':
      return `GOSSIP_REPLY ${m.entries.length}`;
    case 'AAE_TREE':
      return `AAE_TREE p${m.partition} L${m.level} ${m.indices.length}`;
    case 'AAE_SEGMENTS':
      return `AAE_SEGMENTS p${m.partition} ${m.segments.length}`;
    case 'AAE_FETCH':
      return `AAE_FETCH p${m.partition} ${m.keys.length}`;
    case 'AAE_TOMB_CHECK':
      return `AAE_TOMB_CHECK p${m.partition} ${m.items.length}`;
    case 'AAE_REAP':
      return `AAE_REAP p${m.partition} ${m.items.length}`;
    case 'AAE_TREE_REPLY':
      return `AAE_TREE_REPLY ${m.hi.length}`;
    case 'AAE_SEGMENTS_REPLY':
      return `AAE_SEGMENTS_REPLY ${m.items.length}`;
    case 'AAE_FETCH_REPLY':
      return `AAE_FETCH_REPLY ${m.items.length}`;
    case 'AAE_TOMB_CHECK_REPLY':
      return `AAE_TOMB_CHECK_REPLY ${m.states.map((x) => x.state).join(',')}`;
    case 'RING_EXCHANGE':
    case 'RING_EXCHANGE_REPLY':
      return `${m.type} ${m.ring.length}B`;
    case 'TRANSFER_FETCH':
      return `TRANSFER_FETCH p${m.partition} after ${hex(m.after)}`;
    case 'TRANSFER_CHUNK':
      return `TRANSFER_CHUNK ${m.items.length}${m.last ? ' last' : ''}`;
    case 'ADMIN':
      return `ADMIN ${m.op} ${m.node}`;
    case 'PEER_ERROR':
      return `PEER_ERROR ${m.code}`;
  }
};

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export class SimNetwork {
  /** The live endpoint of each node (absent while the node is down). */
  private readonly endpoints = new Map<NodeId, SimTransport>();
  /** Partition group of each node; nodes in different groups cannot talk. Empty = no partition. */
  private groups = new Map<NodeId, number>();
  /** One-way partition: only messages from a lower group to a higher one are lost. */
  private oneWay = false;
  private nextRequestId = 1;
  faults: NetworkFaults = calmNetwork;
  readonly counters: NetworkCounters = { sent: 0, delivered: 0, dropped: 0, blocked: 0, refused: 0 };

  constructor(
    readonly scheduler: Scheduler,
    private readonly random: SeededRandom,
    private readonly trace: (line: string) => void,
  ) {}

  /** A transport for `node`'s new life; replaces (and cuts off) any previous one. */
  attach(node: NodeId, clock: SimClock): SimTransport {
    this.endpoints.get(node)?.cut();
    const t = new SimTransport(this, node, clock);
    this.endpoints.set(node, t);
    return t;
  }

  /** The node is down: nothing reaches its transport, and nothing it sent gets answered. */
  detach(node: NodeId): void {
    this.endpoints.get(node)?.cut();
    this.endpoints.delete(node);
  }

  /** Splits the nodes into groups that can talk only within themselves. */
  /**
   * Splits the nodes into groups that can talk only within themselves; with
   * `oneWay`, messages still flow from a later group to an earlier one (a
   * link that fails in one direction only).
   */
  partition(groups: readonly (readonly NodeId[])[], oneWay = false): void {
    this.groups = new Map(groups.flatMap((g, i) => g.map((n) => [n, i] as const)));
    this.oneWay = oneWay;
    this.trace(`partition${oneWay ? ' one-way' : ''} ${groups.map((g) => g.join('+')).join(oneWay ? ' -/-> ' : ' | ')}`);
  }

  heal(): void {
    this.groups = new Map();
    this.oneWay = false;
    this.trace('heal');
  }

  canReach(from: NodeId, to: NodeId): boolean {
    if (this.groups.size === 0) return true;
    const a = this.groups.get(from) ?? -1;
    const b = this.groups.get(to) ?? -1;
    return a === b || (this.oneWay && a > b);
  }

  /** Sends one message: decides its fate now and queues its arrival. */
  send(from: NodeId, to: NodeId, what: string, arrive: () => void): void {
    this.counters.sent++;
    if (!this.canReach(from, to)) {
      this.counters.blocked++;
      return;
    }
    const f = this.faults;
    if (this.random.chance(f.dropRate)) {
      this.counters.dropped++;
      this.trace(`drop ${from}>${to} ${what}`);
      return;
    }
    const delayMs = this.random.chance(f.slowRate)
      ? this.random.int(f.maxDelayMs + 1, Math.max(f.maxDelayMs + 1, f.slowDelayMs))
      : this.random.int(f.minDelayMs, f.maxDelayMs);
    this.scheduler.at(
      delayMs,
      `${from}>${to} ${what}`,
      () => {
        this.counters.delivered++;
        arrive();
      },
      to,
    );
  }

  endpoint(node: NodeId): SimTransport | undefined {
    return this.endpoints.get(node);
  }

  requestId(): number {
    return this.nextRequestId++;
  }
}

interface Pending {
  readonly resolve: (reply: PeerReply) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: Timer;
}

/** One node's view of the SimNetwork, implementing the cluster's Transport. */
export class SimTransport implements Transport {
  private handler: PeerHandler | undefined;
  private readonly pending = new Map<number, Pending>();
  private live = true;

  constructor(
    private readonly network: SimNetwork,
    readonly node: NodeId,
    private readonly clock: SimClock,
  ) {}

  request(to: NodeId, request: PeerRequest, timeoutMs: number): Promise<PeerReply> {
    return this.requestAddress(to, request, timeoutMs).then((r) => r.reply);
  }

  /** In the simulation a node's address is its id. */
  requestAddress(address: string, request: PeerRequest, timeoutMs: number): Promise<{ readonly from: NodeId; readonly reply: PeerReply }> {
    if (!this.live) return Promise.reject(new KvError('KV_CLOSED', `transport of ${this.node} is closed`));
    const to = address;
    const id = this.network.requestId();
    const message = structuredClone(request);
    return new Promise<PeerReply>((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        if (this.pending.delete(id)) reject(new KvError('KV_TIMEOUT', `${request.type} to ${to} timed out after ${timeoutMs} ms`));
      });
      this.pending.set(id, { resolve, reject, timer });
      this.network.send(this.node, to, `#${id} ${describe(message)}`, () => this.arrive(to, id, message));
    }).then((reply) => {
      if (reply.type === 'PEER_ERROR') {
        throw new KvError(isErrorCode(reply.code) ? reply.code : 'KV_INTERNAL', reply.message);
      }
      return { from: to, reply };
    });
  }

  /** A request of ours reached `to`: run its handler there and send the answer back. */
  private arrive(to: NodeId, id: number, message: PeerRequest): void {
    const target = this.network.endpoint(to);
    if (target === undefined || target.handler === undefined) {
      this.network.counters.refused++;
      this.answer(to, id, { type: 'PEER_ERROR', code: 'KV_UNAVAILABLE', message: `${to} refused the connection` });
      return;
    }
    const from = this.node;
    let result: Promise<PeerReply>;
    try {
      result = Promise.resolve(target.handler(from, message));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (reply) => target.live && target.answerTo(from, id, reply),
      (e: unknown) => target.live && target.answerTo(from, id, errorReply(e)),
    );
  }

  /** Sends a reply from this node to the requester `from`. */
  private answerTo(from: NodeId, id: number, reply: PeerReply): void {
    const requester = this.network.endpoint(from);
    if (requester === undefined) return; // it died; nobody is listening any more
    requester.answer(this.node, id, reply);
  }

  /** Queues the reply from `from` to one of our requests. */
  private answer(from: NodeId, id: number, reply: PeerReply): void {
    const copy = structuredClone(reply);
    this.network.send(from, this.node, `#${id} ${describe(copy)}`, () => {
      const p = this.pending.get(id);
      if (p === undefined || !this.live) return; // timed out already, or we died
      this.pending.delete(id);
      p.timer.cancel();
      p.resolve(copy);
    });
  }

  serve(handler: PeerHandler): void {
    this.handler = handler;
  }

  setAddress(_node: NodeId, _address: string): void {
    // Addresses are node ids here; nothing to learn.
  }

  /** A clean close: pending requests fail, later ones are refused. */
  async close(): Promise<void> {
    if (!this.live) return;
    this.live = false;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.timer.cancel();
      p.reject(new KvError('KV_CLOSED', `transport of ${this.node} closed`));
    }
    this.handler = undefined;
  }

  /** The process died: nothing settles any more (a dead process runs no code). */
  cut(): void {
    this.live = false;
    this.handler = undefined;
    this.pending.clear();
  }
}

const errorReply = (e: unknown): PeerReply => {
  const code = typeof e === 'object' && e !== null && 'code' in e && isErrorCode((e as { code: unknown }).code) ? (e as { code: string }).code : 'KV_INTERNAL';
  const message = e instanceof Error ? e.message : String(e);
  return { type: 'PEER_ERROR', code, message };
};

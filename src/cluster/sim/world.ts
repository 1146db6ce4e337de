/**
 * A simulated cluster in one process: N ClusterNodes (or any implementation
 * of ClusterNodeApi) over a SimNetwork, each with its own SimClock on one
 * shared Scheduler, memory-backed "disks" that survive a crash, and one
 * SeededRandom from which every choice is forked. The world runs event by
 * event; after each one it lets every promise continuation that event
 * caused run to completion (a macrotask turn), so the interleaving of the
 * nodes' async code is fixed by the seed too.
 *
 * Everything that happens is written to a trace (one line per event); its
 * sha256 identifies the run, so a seed can be checked to replay exactly.
 */
import { createHash, type Hash } from 'node:crypto';
import type { NodeId } from '../../core/types.js';
import { KvError } from '../../errors.js';
import { Replica } from '../../node/replica.js';
import { NodeStats } from '../../node/stats.js';
import { createMemoryBackend } from '../../storage/memory.js';
import type { StorageBackend } from '../../storage/backend.js';
import type { ClusterConfig, ClusterNodeApi, ClusterNodeOptions } from '../api.js';
import { SimNetwork, type SimTransport } from './network.js';
import { SeededRandom } from './random.js';
import { Scheduler, SimClock } from './scheduler.js';
import { FencedBackend } from './storage.js';

export type NodeFactory = (options: ClusterNodeOptions) => ClusterNodeApi;

export interface WorldOptions {
  readonly seed: number;
  readonly nodeIds: readonly NodeId[];
  readonly config: ClusterConfig;
  readonly factory: NodeFactory;
  /** Keep every trace line in memory (for printing a failing run); otherwise only the last `traceTail`. */
  readonly keepTrace?: boolean;
  readonly traceTail?: number;
  /** Also record the nodes' own log lines in the trace. */
  readonly traceNodeLogs?: boolean;
  /**
   * When a started node may take client requests (a readiness check, as a
   * load balancer would make); default: as soon as start() resolved.
   */
  readonly ready?: (node: ClusterNodeApi) => boolean;
  /** Nodes that get a disk but no process at the start: they join later (`join`, issue 6). */
  readonly lateIds?: readonly NodeId[];
}

/** One node as the world sees it, across restarts. */
export interface SimNode {
  readonly id: NodeId;
  /** Kept across restarts, as a data dir keeps it; a new one after a wipe. */
  replicaId: string;
  /** The node's "disk": survives crashes (not wipes). */
  data: StorageBackend;
  hints: StorageBackend;
  incarnation: number;
  up: boolean;
  /** The current (or last) process. */
  node: ClusterNodeApi;
  replica: Replica;
  clock: SimClock;
  transport: SimTransport;
  stats: NodeStats;
  /** The stats of every incarnation, oldest first (a restart starts new counters). */
  readonly allStats: NodeStats[];
  /** The current process's views of the disks (fenced when it crashes). */
  fences: { readonly data: FencedBackend; readonly hints: FencedBackend };
}

/** Macrotask turn: every microtask queued so far (and those they queue) has run when it resolves. */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class World {
  readonly seed: number;
  readonly scheduler = new Scheduler();
  readonly random: SeededRandom;
  readonly network: SimNetwork;
  readonly config: ClusterConfig;
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly factory: NodeFactory;
  private readonly hash: Hash = createHash('sha256');
  private readonly lines: string[] = [];
  private readonly keepTrace: boolean;
  private readonly traceTail: number;
  private readonly traceNodeLogs: boolean;
  private readonly ready: (node: ClusterNodeApi) => boolean;
  private eventCount = 0;
  /** Nodes whose process is paused (SIGSTOP, a long GC), until the given time. */
  private readonly pausedUntil = new Map<NodeId, number>();
  /** Errors thrown by event callbacks: a run with any is broken. */
  readonly errors: string[] = [];

  private constructor(options: WorldOptions) {
    this.seed = options.seed;
    this.random = new SeededRandom(options.seed);
    this.config = options.config;
    this.factory = options.factory;
    this.keepTrace = options.keepTrace ?? false;
    this.traceTail = options.traceTail ?? 200;
    this.traceNodeLogs = options.traceNodeLogs ?? true;
    this.ready = options.ready ?? (() => true);
    this.network = new SimNetwork(this.scheduler, this.random.fork('network'), (l) => this.trace(l));
  }

  /** Builds the world and starts every node (start() is awaited inside the simulation). */
  static async create(options: WorldOptions): Promise<World> {
    const w = new World(options);
    const late = new Set(options.lateIds ?? []);
    const ids = [...options.nodeIds];
    for (const id of [...ids, ...late]) {
      const data = await createMemoryBackend();
      const hints = await createMemoryBackend();
      // As on a real data dir, the replica id is drawn once and kept across restarts.
      const replicaId = `${id}/${w.random.fork(`replica ${id}`).nextU32().toString(16).padStart(8, '0')}`;
      const sim = { id, replicaId, data, hints, incarnation: 0, up: false, allStats: [] as NodeStats[] } as SimNode;
      w.nodes.set(id, sim);
    }
    // Every node is given the first other node as its --join seed.
    for (const id of ids) await w.settle(w.boot(w.nodes.get(id)!, ids.filter((x) => x !== id).slice(0, 1)), 60_000);
    return w;
  }

  /**
   * Starts a late node for the first time, joining through `seeds` (issue 6).
   * Call it from inside an event, as `restart`.
   */
  join(id: NodeId, seeds: readonly NodeId[]): void {
    const sim = this.node(id);
    if (sim.clock !== undefined) return; // already started once
    this.boot(sim, seeds).catch((e: unknown) => this.errors.push(`join ${id}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  }

  /** True once the node was started at least once (a late node before its join is not). */
  hasStarted(id: NodeId): boolean {
    return this.node(id).clock !== undefined;
  }

  get events(): number {
    return this.eventCount;
  }

  now(): number {
    return this.scheduler.now();
  }

  /** Adds one line to the trace (hashed; kept in memory as configured). */
  trace(line: string): void {
    const l = `${this.scheduler.now()} ${line}`;
    this.hash.update(l);
    this.hash.update('\n');
    this.lines.push(l);
    if (!this.keepTrace && this.lines.length > this.traceTail * 2) this.lines.splice(0, this.lines.length - this.traceTail);
  }

  /** sha256 of the trace so far, hex. */
  traceHash(): string {
    return this.hash.copy().digest('hex');
  }

  /** The kept trace lines (all of them with keepTrace, else the last ones). */
  traceLines(): readonly string[] {
    return this.keepTrace ? this.lines : this.lines.slice(-this.traceTail);
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Queues a world-level action (a client step, a fault) `delayMs` from now. */
  schedule(delayMs: number, label: string, run: () => void | Promise<void>): void {
    this.scheduler.at(delayMs, label, () => {
      const r = run();
      if (r instanceof Promise) r.catch((e: unknown) => this.errors.push(`${label}: ${String(e)}`));
    });
  }

  /** Runs one event and everything it set off. Returns false when no event is queued. */
  async step(): Promise<boolean> {
    const e = this.scheduler.pop();
    if (e === undefined) return false;
    const until = e.owner === undefined ? undefined : this.pausedUntil.get(e.owner);
    if (until !== undefined) {
      if (until > e.atMs) {
        // The process is stopped: its timers and incoming messages wait, in order, until it resumes.
        this.scheduler.defer(e, until);
        return true;
      }
      this.pausedUntil.delete(e.owner!);
    }
    this.eventCount++;
    this.trace(e.label);
    try {
      e.run();
    } catch (err) {
      this.errors.push(`${e.label}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      this.trace(`! ${String(err)}`);
    }
    await drain();
    return true;
  }

  /** Runs every event up to and including `timeMs`, then sets the clock there. */
  async runUntil(timeMs: number): Promise<void> {
    for (;;) {
      const t = this.scheduler.peekTime();
      if (t === undefined || t > timeMs) break;
      await this.step();
    }
    this.scheduler.advanceTo(timeMs);
  }

  async runFor(ms: number): Promise<void> {
    await this.runUntil(this.now() + ms);
  }

  /**
   * Runs events until `p` settles (or `limitMs` of simulated time passes,
   * which throws: a simulated call must not hang), and returns its outcome.
   */
  async settle<T>(p: Promise<T>, limitMs = 600_000): Promise<T> {
    let done = false;
    const watched = p.finally(() => {
      done = true;
    });
    watched.catch(() => undefined);
    await drain();
    const deadline = this.now() + limitMs;
    while (!done) {
      const t = this.scheduler.peekTime();
      if (t === undefined || t > deadline) throw new Error(`simulated call did not settle within ${limitMs} ms (next event ${t ?? 'none'})`);
      await this.step();
    }
    return watched;
  }

  /**
   * Starts a node's process on its (possibly existing) disk. Clients see it
   * up once start() resolved; peers can reach it as soon as it serves.
   */
  private async boot(sim: SimNode, seedIds: readonly NodeId[]): Promise<void> {
    sim.incarnation++;
    const clock = new SimClock(this.scheduler, sim.id);
    const transport = this.network.attach(sim.id, clock);
    const dataFence = new FencedBackend(sim.data);
    const hintFence = new FencedBackend(sim.hints);
    const replica = new Replica({ backend: dataFence, replicaId: sim.replicaId, partitionBits: this.config.partitionBits });
    await replica.openAll(await dataFence.partitions());
    const stats = new NodeStats(clock.now());
    sim.allStats.push(stats);
    const log = (level: string, msg: string): void => {
      if (this.traceNodeLogs) this.trace(`${sim.id} ${level} ${msg}`);
    };
    const node = this.factory({
      nodeId: sim.id,
      address: sim.id,
      weight: 1,
      seeds: seedIds,
      incarnation: sim.incarnation,
      config: this.config,
      replica,
      hintBackend: hintFence,
      clock,
      random: this.random.fork(`node ${sim.id} ${sim.incarnation}`),
      transport,
      stats,
      log,
    });
    Object.assign(sim, { node, replica, clock, transport, stats, fences: { data: dataFence, hints: hintFence } });
    this.trace(`${sim.id} boot incarnation ${sim.incarnation}`);
    await node.start();
    if (sim.clock === clock && !sim.fences.data.isFenced) {
      sim.up = true;
      this.trace(`${sim.id} started`);
    }
  }

  /**
   * Stops the node's process for `ms` (as SIGSTOP, or a long GC pause): it
   * keeps its state, but runs nothing until then; what arrives meanwhile is
   * handled, in order, when it resumes. False when the node is down.
   */
  pause(id: NodeId, ms: number): boolean {
    const sim = this.node(id);
    if (sim.fences.data.isFenced) return false; // a dead process cannot be paused
    this.pausedUntil.set(id, Math.max(this.pausedUntil.get(id) ?? 0, this.now() + ms));
    this.trace(`${id} pause ${ms} ms`);
    return true;
  }

  /**
   * A client call to a node: runs `call` as an event of that node (so a
   * paused node answers only once it resumes), or rejects with
   * KV_UNAVAILABLE when the node is down or not ready.
   */
  call<T>(id: NodeId, label: string, call: (node: ClusterNodeApi) => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.scheduler.at(
        0,
        label,
        () => {
          try {
            Promise.resolve(call(this.service(id))).then(resolve, reject);
          } catch (e) {
            reject(e);
          }
        },
        id,
      );
    });
  }

  /** The node's process dies: no timer, message or storage call of it runs again; its disk stays. */
  crash(id: NodeId): void {
    const sim = this.node(id);
    if (sim.fences.data.isFenced) return; // already down
    sim.up = false;
    sim.clock.halt();
    this.network.detach(id);
    sim.fences.data.fence();
    sim.fences.hints.fence();
    this.pausedUntil.delete(id);
    this.trace(`${id} crash`);
  }

  /**
   * The node's process dies and its disk is lost: it will restart empty,
   * with a new replica id and incarnation 1, as a node whose data directory
   * was replaced does.
   */
  async wipe(id: NodeId): Promise<void> {
    this.crash(id);
    const sim = this.node(id);
    sim.data = await createMemoryBackend();
    sim.hints = await createMemoryBackend();
    sim.incarnation = 0;
    sim.replicaId = `${id}/${this.random.fork(`replica ${id} ${sim.allStats.length}`).nextU32().toString(16).padStart(8, '0')}`;
    this.trace(`${id} wipe: new replica id ${sim.replicaId}`);
  }

  /**
   * Starts a crashed node again, with a higher incarnation, on its old disk.
   * Call it from inside an event (it does not run the world itself); the
   * node is up for clients once its start() resolves.
   */
  restart(id: NodeId): void {
    const sim = this.node(id);
    if (sim.clock === undefined) return; // a late node that has not joined yet
    if (sim.up || (sim.clock !== undefined && !sim.fences.data.isFenced)) return; // running or starting
    this.boot(
      sim,
      [...this.nodes.keys()].filter((x) => x !== id),
    ).catch((e: unknown) => this.errors.push(`restart ${id}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  }

  /** The node is up and ready for clients. */
  isServing(id: NodeId): boolean {
    const sim = this.node(id);
    return sim.up && this.ready(sim.node);
  }

  /** The node a client may call now, or a KV_UNAVAILABLE error (a refused connection, or not ready yet). */
  service(id: NodeId): ClusterNodeApi {
    const sim = this.node(id);
    if (!sim.up) throw new KvError('KV_UNAVAILABLE', `${id} is down`);
    if (!this.ready(sim.node)) throw new KvError('KV_UNAVAILABLE', `${id} is not ready`);
    return sim.node;
  }

  /** A stats counter summed over every node and incarnation. */
  counter(name: string): number {
    let total = 0;
    for (const sim of this.nodes.values()) for (const s of sim.allStats) total += s.counter(name);
    return total;
  }

  /** Stops every live node cleanly (end of a run). */
  async shutdown(): Promise<void> {
    for (const sim of this.nodes.values()) {
      if (!sim.up) continue;
      sim.up = false;
      sim.clock.halt();
      const stopped = sim.node.stop();
      await drain();
      sim.clock.halt();
      this.network.detach(sim.id);
      await stopped.catch(() => undefined);
    }
  }
}

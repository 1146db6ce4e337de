/**
 * The convergence scenario of issue 5 item 6. Concurrent clients add
 * elements to a few set-valued keys through the nodes' KvService (read,
 * union the siblings, add, write back with the read's context) while the
 * network drops, delays and reorders messages, partitions come and heal and
 * nodes crash and restart. An add is acknowledged when its put succeeded.
 * Then every fault heals, the cluster gets a quiet period (gossip, hinted
 * handoff), every key is read through every node (read repair), and the
 * checker reads each primary replica's local store directly:
 *
 *   - all primaries of a key hold the same object (and so the same value);
 *   - every acknowledged add is in that value, and in every final read
 *     (unless a disk was wiped: see below);
 *   - every node ends with the same ring;
 *   - no event callback threw and the final reads succeeded.
 *
 * Everything is drawn from one seed; the trace hash identifies the run.
 */
import * as D from '../../core/dvvset.js';
import { claimInitial } from '../../core/claim.js';
import { preferenceList } from '../../core/ring.js';
import { decodeContext } from '../../core/context_codec.js';
import type { NodeId } from '../../core/types.js';
import { partitionOf } from '../../native/addon.js';
import { isTombstone, untag, type Obj } from '../../node/replica.js';
import type { ReadResult } from '../../node/service.js';
import { defaultClusterConfig, type ClusterConfig } from '../api.js';
import { ringVersionOf } from '../ring_state.js';
import { calmNetwork, type NetworkFaults } from './network.js';
import { SeededRandom } from './random.js';
import { World, type NodeFactory } from './world.js';

export interface ScenarioOptions {
  readonly seed: number;
  /** Builds the node factory once the node ids are drawn (a node may need to know its peers). */
  readonly makeFactory: (nodeIds: readonly NodeId[]) => NodeFactory;
  /** Node count; default: drawn from the seed in 3..5. */
  readonly nodeCount?: number;
  readonly keyCount?: number;
  readonly clientCount?: number;
  readonly opsPerClient?: number;
  /** Simulated time during which clients run and faults happen. */
  readonly activeMs?: number;
  /** Simulated time after healing before the final reads. */
  readonly quietMs?: number;
  /** Simulated time after the final reads, for their repairs to land, before the check. */
  readonly repairMs?: number;
  /** Inject faults (default true). */
  readonly faults?: boolean;
  /** Up to this many partitions, crashes and pauses each, and the longest one (defaults 2, 2, 2, 4000 ms). */
  readonly maxPartitions?: number;
  readonly maxCrashes?: number;
  readonly maxPauses?: number;
  readonly maxFaultMs?: number;
  /**
   * Up to this many crashes lose the node's disk (default 0). One wipe keeps
   * every acknowledged add alive on another replica (W = 2); more could not.
   */
  readonly maxWipes?: number;
  /**
   * Issue 6: up to this many nodes join during the run (default 1) and up to
   * this many leave (default 1; only while more than N members would stay).
   * Drawn from their own random stream, so the other faults of a seed stay.
   */
  readonly maxJoins?: number;
  readonly maxLeaves?: number;
  /** Probability that a partition fails one direction only (default 0). */
  readonly oneWayRate?: number;
  /**
   * Clients use a node only once it counts every member (ClusterNodeApi.
   * memberCount, the readiness check); default true. Without the gate a node
   * coordinates writes on a ring built from a partial view.
   */
  readonly readinessGate?: boolean;
  /** Check that every node routes by the ring over all nodes (default true; off for ring-less test nodes). */
  readonly checkRing?: boolean;
  readonly keepTrace?: boolean;
  readonly config?: Partial<ClusterConfig>;
  /**
   * Clients that add and remove set elements, one key per element (issue 7):
   * an add puts `el:<client>.<i>`, a remove reads an element the client
   * added and deletes it with that read's context. Default 0. The checker
   * then requires every removed element to stay removed (no read finds it,
   * every primary holds it dead) and every other acknowledged one to be on
   * every primary, the primaries' objects equal (dead = absent or tombstones).
   */
  readonly elementClients?: number;
}

export interface ScenarioResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly traceHash: string;
  readonly trace: readonly string[];
  readonly events: number;
  readonly simMs: number;
  readonly nodeCount: number;
  readonly attempted: number;
  readonly acknowledged: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly pauses: number;
  readonly wipes: number;
  readonly joins: number;
  readonly leaves: number;
  readonly messages: { readonly sent: number; readonly dropped: number; readonly blocked: number; readonly refused: number };
  /** Node counters summed over nodes and incarnations (hintsStored, hintsDelivered, ringChangeHints, readRepairs, forwarded). */
  readonly counters: Readonly<Record<string, number>>;
  /** Most siblings any primary replica held at the end. */
  readonly maxSiblings: number;
}

/** The scenario's cluster settings: the defaults, with a small ring so each seed stays cheap. */
export const simConfig = (over: Partial<ClusterConfig> = {}): ClusterConfig => ({
  ...defaultClusterConfig,
  n: 3,
  r: 2,
  w: 2,
  partitionBits: 4,
  requestTimeoutMs: 3000,
  peerTimeoutMs: 500,
  // Anti-entropy at its default pace would barely run in a 20 s run; once a second keeps its traffic small.
  aae: { intervalMs: 1000, reapAfterMs: 10_000 },
  ...over,
});

// Set values: the elements, sorted, one per line. The empty set is empty bytes.
const encodeSet = (s: ReadonlySet<string>): Uint8Array => Buffer.from([...s].sort().join('\n'), 'utf8');
const decodeSet = (b: Uint8Array): string[] => (b.length === 0 ? [] : Buffer.from(b).toString('utf8').split('\n'));

const unionOf = (r: ReadResult): Set<string> => new Set(r.siblings.filter((s) => !s.tombstone).flatMap((s) => decodeSet(s.value)));

const objUnion = (obj: Obj | null): Set<string> =>
  new Set(obj === null ? [] : D.values(obj).filter((v) => !isTombstone(v)).flatMap((v) => decodeSet(untag(v))));

const codeOf = (e: unknown): string =>
  typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : e instanceof Error ? e.message : String(e);

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

const drawFaults = (r: SeededRandom, harsh: boolean): NetworkFaults => ({
  dropRate: r.pick(harsh ? [0.05, 0.1, 0.2, 0.3] : [0, 0.01, 0.05, 0.1, 0.2]),
  minDelayMs: 1,
  maxDelayMs: r.int(5, 40),
  slowRate: r.pick([0, 0.02, 0.1]),
  slowDelayMs: r.int(100, 900),
});

export const runScenario = async (o: ScenarioOptions): Promise<ScenarioResult> => {
  const plan = new SeededRandom(o.seed).fork('scenario');
  const nodeCount = o.nodeCount ?? plan.int(3, 5);
  const nodeIds = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  // With element clients, anti-entropy is what must converge the removes in the quiet period:
  // 16 partitions at one exchange per 250 ms per node cover every partition about every 4 s.
  const config = simConfig((o.elementClients ?? 0) > 0 ? { aae: { intervalMs: 250, reapAfterMs: 10_000 }, ...o.config } : o.config);
  const keys = Array.from({ length: o.keyCount ?? 3 }, (_, i) => Buffer.from(`set${i}`));
  const clientCount = o.clientCount ?? 3;
  const opsPerClient = o.opsPerClient ?? 6;
  const activeMs = o.activeMs ?? 8000;
  const quietMs = o.quietMs ?? 10_000;
  const faults = o.faults ?? true;
  // Membership changes (issue 6), from their own stream: late nodes join, members leave.
  const membership = new SeededRandom(o.seed).fork('membership');
  const faultsOn = o.faults ?? true;
  const joinCount = faultsOn ? membership.int(0, o.maxJoins ?? 1) : 0;
  const lateIds = Array.from({ length: joinCount }, (_, i) => `n${nodeCount + i + 1}`);
  const leaveCount = faultsOn ? membership.int(0, o.maxLeaves ?? 1) : 0;
  const allIds = [...nodeIds, ...lateIds];
  const factory = o.makeFactory(allIds);
  /** Nodes that left (their process exited), and how many leaves started (the readiness floor drops with each). */
  const left = new Set<string>();
  let leavesStarted = 0;

  const gate = o.readinessGate ?? true;
  const world = await World.create({
    seed: o.seed,
    nodeIds,
    lateIds,
    config,
    factory,
    keepTrace: o.keepTrace ?? false,
    ready: gate ? (n) => n.memberCount() >= nodeCount - leavesStarted : () => true,
  });
  const violations: string[] = [];
  const acked = new Map<string, Set<string>>(keys.map((k) => [k.toString(), new Set<string>()]));
  let attempted = 0;
  let crashes = 0;
  let partitions = 0;
  let pauses = 0;
  let wipes = 0;
  let joins = 0;
  let leaves = 0;
  let maxSiblings = 0;
  // A client gives up on a call this long after the node's own deadline (a node that crashed never answers).
  const clientPatienceMs = config.requestTimeoutMs + 2000;

  const sleep = (ms: number, label: string): Promise<void> => new Promise((resolve) => world.schedule(ms, label, resolve));
  const patient = <T>(p: T | Promise<T>, label: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const giveUp = world.scheduler.at(clientPatienceMs, `${label} gives up`, () => reject(new Error('client gave up')));
      Promise.resolve(p).then(
        (v) => {
          giveUp.cancelled = true;
          resolve(v);
        },
        (e: unknown) => {
          giveUp.cancelled = true;
          reject(e);
        },
      );
    });

  const client = async (c: number, r: SeededRandom): Promise<void> => {
    for (let i = 0; i < opsPerClient; i++) {
      await sleep(r.int(0, Math.floor(activeMs / opsPerClient)), `c${c} thinks`);
      if (world.now() >= activeMs) return;
      const key = r.pick(keys);
      // As an SDK does, try the nodes from a random one on until one accepts the connection.
      const first = r.int(0, nodeCount - 1);
      const order = allIds.map((_, j) => allIds[(first + j) % allIds.length]!).filter((id) => !left.has(id));
      const via = order.find((id) => world.isServing(id)) ?? order[0]!;
      const element = `c${c}.${i}`;
      attempted++;
      try {
        const read = await patient(world.call(via, `c${c} get ${key.toString()} via ${via}`, (n) => n.get(key, 0, config.requestTimeoutMs)), `c${c} get`);
        const set = unionOf(read);
        set.add(element);
        const value = encodeSet(set);
        await patient(world.call(via, `c${c} put ${key.toString()} via ${via}`, (n) => n.put(key, value, read.context, 0, config.requestTimeoutMs)), `c${c} put`);
        acked.get(key.toString())!.add(element);
        world.trace(`c${c} ack ${key.toString()} +${element} via ${via} (${set.size})`);
      } catch (e) {
        world.trace(`c${c} fail ${key.toString()} +${element} via ${via}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };

  // Element clients (issue 7): adds and removes, one key per element.
  const elementsAdded = new Set<string>();
  /** Removed elements, with the context of the read the delete was made with: the values it removed. */
  const elementsRemoved = new Map<string, D.Context>();
  /** Elements whose add or remove failed without an answer: either outcome is right. */
  const elementsUncertain = new Set<string>();
  const elementClient = async (c: number, r: SeededRandom): Promise<void> => {
    const mine: string[] = [];
    for (let i = 0; i < opsPerClient * 2; i++) {
      await sleep(r.int(0, Math.floor(activeMs / (opsPerClient * 2))), `e${c} thinks`);
      if (world.now() >= activeMs) return;
      const first = r.int(0, nodeCount - 1);
      const order = allIds.map((_, j) => allIds[(first + j) % allIds.length]!).filter((id) => !left.has(id));
      const via = order.find((id) => world.isServing(id)) ?? order[0]!;
      const removable = mine.filter((e) => !elementsRemoved.has(e) && !elementsUncertain.has(e));
      if (removable.length > 0 && r.chance(0.4)) {
        const name = r.pick(removable);
        const key = Buffer.from(name);
        try {
          const read = await patient(world.call(via, `e${c} get ${name} via ${via}`, (n) => n.get(key, 0, config.requestTimeoutMs)), `e${c} get`);
          // A read that missed the add (possible after a disk loss) would delete nothing it saw: skip.
          if (!read.found) continue;
          try {
            await patient(world.call(via, `e${c} delete ${name} via ${via}`, (n) => n.put(key, null, read.context, 0, config.requestTimeoutMs)), `e${c} delete`);
            const ctx = decodeContext(read.context);
            if (ctx.ok) elementsRemoved.set(name, ctx.value);
            world.trace(`e${c} ack -${name} via ${via}`);
          } catch (e) {
            elementsUncertain.add(name);
            world.trace(`e${c} fail -${name} via ${via}: ${e instanceof Error ? e.message : String(e)}`);
          }
        } catch (e) {
          world.trace(`e${c} fail get ${name} via ${via}: ${e instanceof Error ? e.message : String(e)}`);
        }
        continue;
      }
      const name = `el:${c}.${i}`;
      attempted++;
      try {
        await patient(world.call(via, `e${c} put ${name} via ${via}`, (n) => n.put(Buffer.from(name), Buffer.from('x'), new Uint8Array(0), 0, config.requestTimeoutMs)), `e${c} put`);
        elementsAdded.add(name);
        mine.push(name);
        world.trace(`e${c} ack +${name} via ${via}`);
      } catch (e) {
        elementsUncertain.add(name);
        world.trace(`e${c} fail +${name} via ${via}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };

  const clients = Array.from({ length: clientCount }, (_, c) => {
    const r = world.random.fork(`client ${c}`);
    return new Promise<void>((resolve) => world.schedule(0, `c${c} starts`, () => client(c, r).then(resolve)));
  });
  for (let c = 0; c < (o.elementClients ?? 0); c++) {
    const r = world.random.fork(`element client ${c}`);
    clients.push(new Promise<void>((resolve) => world.schedule(0, `e${c} starts`, () => elementClient(c, r).then(resolve))));
  }

  if (faults) {
    const f = world.random.fork('faults');
    const maxFaultMs = o.maxFaultMs ?? 4000;
    world.network.faults = drawFaults(f, maxFaultMs > 4000);
    world.trace(`faults ${JSON.stringify(world.network.faults)}`);
    const partitionCount = f.int(0, o.maxPartitions ?? 2);
    for (let i = 0; i < partitionCount; i++) {
      const at = f.int(0, activeMs - 1);
      const lastsMs = f.int(500, maxFaultMs);
      const shuffled = nodeIds.map((id) => ({ id, k: f.next() })).sort((a, b) => a.k - b.k).map((x) => x.id);
      const cut = f.int(1, nodeCount - 1);
      // Drawn only when asked for, so the other faults of a seed stay as they were.
      const oneWay = (o.oneWayRate ?? 0) > 0 && f.chance(o.oneWayRate!);
      world.schedule(at, 'fault partition', () => {
        partitions++;
        world.network.partition([shuffled.slice(0, cut), shuffled.slice(cut)], oneWay);
      });
      world.schedule(at + lastsMs, 'fault heal', () => world.network.heal());
    }
    const crashCount = f.int(0, o.maxCrashes ?? 2);
    for (let i = 0; i < crashCount; i++) {
      const at = f.int(0, activeMs - 1);
      const downMs = f.int(300, maxFaultMs);
      const victim = f.pick(nodeIds);
      world.schedule(at, `fault crash ${victim}`, () => {
        if (!world.node(victim).up) return;
        crashes++;
        world.crash(victim);
        world.schedule(downMs, `fault restart ${victim}`, () => { if (!left.has(victim)) world.restart(victim); });
      });
    }
    const pauseCount = f.int(0, o.maxPauses ?? 2);
    for (let i = 0; i < pauseCount; i++) {
      const at = f.int(0, activeMs - 1);
      const pauseMs = f.int(200, maxFaultMs);
      const victim = f.pick(nodeIds);
      world.schedule(at, `fault pause ${victim}`, () => {
        if (world.pause(victim, pauseMs)) pauses++;
      });
    }
    // Drawn last, and only when asked for, so the other faults of a seed stay as they were.
    const wipeCount = (o.maxWipes ?? 0) > 0 ? f.int(0, o.maxWipes!) : 0;
    for (let i = 0; i < wipeCount; i++) {
      const at = f.int(0, activeMs - 1);
      const downMs = f.int(300, maxFaultMs);
      const victim = f.pick(nodeIds);
      world.schedule(at, `fault wipe ${victim}`, async () => {
        if (!world.node(victim).up) return;
        wipes++;
        await world.wipe(victim);
        world.schedule(downMs, `fault restart ${victim}`, () => { if (!left.has(victim)) world.restart(victim); });
      });
    }
  }

  for (const id of lateIds) {
    const at = membership.int(0, activeMs - 1);
    world.schedule(at, `membership join ${id}`, () => {
      joins++;
      world.join(id, nodeIds.filter((x) => !left.has(x)).slice(0, 1));
    });
  }
  for (let i = 0; i < leaveCount; i++) {
    const at = membership.int(0, activeMs - 1);
    const victim = membership.pick(nodeIds);
    world.schedule(at, `membership leave ${victim}`, () => {
      const members = allIds.filter((id) => world.hasStarted(id) && !left.has(id)).length - leavesStarted;
      if (members <= config.n || !world.node(victim).up || left.has(victim)) return;
      leavesStarted++;
      // As `ringkv leave`: ask again after a crash restarted it (its 'leaving' did not survive the
      // restart); the process exits once it owns nothing and handed every hint off.
      let leftPolls = 0;
      const poll = (): void => {
        const sim = world.node(victim);
        if (sim.up) {
          sim.node.leave?.();
          // As node.ts: exit only after a few rounds of having left, so gossip carries it first.
          leftPolls = sim.node.hasLeft?.() === true ? leftPolls + 1 : 0;
          if (leftPolls >= 3) {
            leaves++;
            left.add(victim);
            world.crash(victim);
            world.trace(`${victim} left the cluster`);
            return;
          }
        }
        world.schedule(config.gossipIntervalMs, `membership ${victim} leaving`, poll);
      };
      poll();
    });
  }

  await world.runUntil(activeMs);
  world.schedule(0, 'heal everything', () => {
    world.network.heal();
    world.network.faults = calmNetwork;
    for (const id of allIds) if (!left.has(id)) world.restart(id);
  });
  await world.runFor(quietMs);
  await world.settle(Promise.all(clients), 60_000);

  // Read every key through every node: each read that finds a stale replica repairs it.
  const finalIds = allIds.filter((id) => world.hasStarted(id) && !left.has(id));
  for (const key of keys) {
    for (const id of finalIds) {
      try {
        const read = await world.settle(Promise.resolve(world.service(id).get(key, 0, config.requestTimeoutMs)), clientPatienceMs);
        const seen = unionOf(read);
        world.trace(`final read ${key.toString()} via ${id}: ${read.siblings.length} siblings, ${seen.size} elements`);
        const unseen = [...acked.get(key.toString())!].filter((e) => !seen.has(e));
        // After a disk loss an add may live on one replica only until read repair copies it, so an
        // R = 2 read can legitimately miss it (R + W > N assumes no lost copy); replicas must still converge.
        if (unseen.length > 0 && wipes === 0) violations.push(`final read of ${key.toString()} through ${id} lacks acknowledged adds: ${unseen.sort().join(',')}`);
      } catch (e) {
        violations.push(`final read of ${key.toString()} through ${id} failed after healing: ${codeOf(e)}`);
      }
    }
  }
  // Removed elements stay removed through every node: no read returns a value the delete removed.
  // (A FORWARD that timed out and was retried can apply an add twice, as two dots; a delete whose
  // read saw only one leaves the other as a sibling it never saw, and that one may stay.)
  const removedValues = (obj: Obj | null, ctx: D.Context): number =>
    obj === null ? 0 : D.dotted(obj).filter((d) => !isTombstone(d.value) && D.covers(ctx, d.dot)).length;
  for (const name of [...elementsRemoved.keys()].sort()) {
    for (const id of finalIds) {
      try {
        const read = await world.settle(Promise.resolve(world.service(id).get(Buffer.from(name), 0, config.requestTimeoutMs)), clientPatienceMs);
        if (read.found) {
          // Found: is what it found a value the delete removed? Reads see the primaries' copies (stale fallback copies without hints are never read).
          const ringNow = world.node(finalIds[0]!).node.currentRing?.() ?? claimInitial(config.partitionBits, nodeIds.map((x) => ({ id: x })), { n: config.n });
          let back = 0;
          for (const holder of preferenceList(ringNow, partitionOf(Buffer.from(name), config.partitionBits), config.n)) {
            back += removedValues(await world.node(holder).replica.read(Buffer.from(name)), elementsRemoved.get(name)!);
          }
          if (back > 0) violations.push(`removed element ${name} is back: read through ${id} finds it, and ${back} copies hold a value the delete removed`);
        }
      } catch (e) {
        violations.push(`final read of ${name} through ${id} failed after healing: ${codeOf(e)}`);
      }
    }
  }
  await world.runFor(o.repairMs ?? 3000);

  // Every node must have settled on the same ring.
  const checkRing = o.checkRing ?? true;
  const versions = new Set(finalIds.map((id) => world.node(id).node.ringVersion().toString(16)));
  if (checkRing && versions.size !== 1) violations.push(`nodes disagree on the ring: ${finalIds.map((id) => `${id}=${world.node(id).node.ringVersion().toString(16)}`).join(' ')}`);

  // The ring the nodes route by (issue 6: gossiped and claimed from the previous ring, so not
  // claimInitial's): settled, over every node, balanced; a node without one (naive test nodes) is
  // checked against the checker's own.
  const routed = world.node(finalIds[0]!).node.currentRing?.();
  const ring = routed ?? claimInitial(config.partitionBits, nodeIds.map((id) => ({ id })), { n: config.n });
  if (checkRing && routed === undefined) {
    const expected = ringVersionOf(ring.owners).toString(16);
    if (versions.size === 1 && !versions.has(expected)) violations.push(`nodes route by ring ${[...versions][0]}, not the full ring ${expected}`);
  }
  if (checkRing && routed !== undefined) {
    const counts = finalIds.map((id) => ring.owners.filter((o) => o === id).length);
    if (Math.max(...counts) - Math.min(...counts) > 1) violations.push(`ring unbalanced: ${finalIds.map((id, i) => `${id}=${counts[i]}`).join(' ')}`);
    const owners = new Set(ring.owners);
    if (owners.size !== finalIds.length || finalIds.some((id) => !owners.has(id))) violations.push(`ring owners ${[...owners].sort().join(',')} are not the members ${finalIds.join(',')}`);
    const pending = finalIds.filter((id) => world.node(id).node.status().ringPending === true);
    if (pending.length > 0) violations.push(`ring change still pending on ${pending.join(',')} after the quiet period`);
  }
  for (const key of keys) {
    const name = key.toString();
    const primaries = preferenceList(ring, partitionOf(key, config.partitionBits), config.n);
    const objs: (Obj | null)[] = [];
    for (const id of primaries) objs.push(await world.node(id).replica.read(key));
    const sets = objs.map(objUnion);
    for (const obj of objs) if (obj !== null) maxSiblings = Math.max(maxSiblings, D.values(obj).length);
    for (let i = 0; i < primaries.length; i++) {
      const missing = [...acked.get(name)!].filter((e) => !sets[i]!.has(e));
      if (missing.length > 0) violations.push(`${primaries[i]} lost acknowledged adds to ${name}: ${missing.sort().join(',')}`);
      if (i > 0 && !sameObject(objs[0]!, objs[i]!)) {
        violations.push(
          `replicas of ${name} differ: ${primaries[0]} has {${[...sets[0]!].sort().join(',')}} (${describeObj(objs[0]!)}), ` +
            `${primaries[i]} has {${[...sets[i]!].sort().join(',')}} (${describeObj(objs[i]!)})`,
        );
      }
    }
  }
  for (const name of [...elementsAdded, ...elementsRemoved.keys()].filter((e, i, all) => all.indexOf(e) === i).sort()) {
    if (elementsUncertain.has(name)) continue;
    const key = Buffer.from(name);
    const primaries = preferenceList(ring, partitionOf(key, config.partitionBits), config.n);
    const objs: (Obj | null)[] = [];
    for (const id of primaries) objs.push(await world.node(id).replica.read(key));
    const dead = (o: Obj | null): boolean => o === null || D.isDeleted(o, isTombstone);
    const removed = elementsRemoved.has(name);
    for (let i = 0; i < primaries.length; i++) {
      if (removed && removedValues(objs[i]!, elementsRemoved.get(name)!) > 0) violations.push(`${primaries[i]} holds a value of removed element ${name} the delete removed (${describeObj(objs[i]!)})`);
      if (!removed && dead(objs[i]!)) violations.push(`${primaries[i]} lost acknowledged element ${name}`);
      if (i > 0 && !(dead(objs[0]!) && dead(objs[i]!)) && !sameObject(objs[0]!, objs[i]!)) {
        violations.push(`replicas of element ${name} differ: ${primaries[0]} ${describeObj(objs[0]!)}, ${primaries[i]} ${describeObj(objs[i]!)}`);
      }
    }
  }
  // Handoff must have finished: with every node up and the network calm, no hint is left.
  for (const id of finalIds) {
    const pending = Object.entries(world.node(id).node.status().hintsPending).filter(([, count]) => count > 0);
    if (pending.length > 0) violations.push(`${id} still holds hints after the quiet period: ${pending.map(([t, count]) => `${count} for ${t}`).join(', ')}`);
  }
  for (const e of world.errors) violations.push(`event error: ${e}`);

  const simMs = world.now();
  const trace = world.traceLines();
  const traceHash = world.traceHash();
  const ackedCount = [...acked.values()].reduce((a, s) => a + s.size, 0);
  const c = world.network.counters;
  const counters = Object.fromEntries(
    ['hintsStored', 'hintsDelivered', 'ringChangeHints', 'readRepairs', 'forwarded', 'aaeExchanges', 'aaeKeysRepaired', 'aaeTombstonesReaped'].map((n) => [n, world.counter(n)]),
  );
  await world.shutdown();
  return {
    seed: o.seed,
    ok: violations.length === 0,
    violations,
    traceHash,
    trace,
    events: world.events,
    simMs,
    nodeCount,
    attempted,
    acknowledged: ackedCount,
    crashes,
    partitions,
    pauses,
    wipes,
    joins,
    leaves,
    messages: { sent: c.sent, dropped: c.dropped, blocked: c.blocked, refused: c.refused },
    counters,
    maxSiblings,
  };
};

const sameObject = (a: Obj | null, b: Obj | null): boolean => (a === null || b === null ? a === b : D.equals(a, b, bytesEqual));

const describeObj = (o: Obj | null): string =>
  o === null ? 'absent' : o.map((e) => `${e.id}:${e.counter}[${e.values.length}]`).join(' ');

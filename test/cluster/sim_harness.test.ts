/**
 * The simulation harness on its own, driven by a trivial node (NaiveNode),
 * so a harness bug is not mistaken for a cluster bug.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import { SeededRandom } from '../../src/cluster/sim/random.js';
import { Scheduler, SimClock } from '../../src/cluster/sim/scheduler.js';
import { World, type NodeFactory } from '../../src/cluster/sim/world.js';
import { runScenario, simConfig } from '../../src/cluster/sim/scenario.js';
import { NaiveNode } from '../../src/cluster/sim/naive_node.js';
import type { PeerReply } from '../../protocol/peer_messages.js';

const naive =
  (pushIntervalMs = 1000) =>
  (ids: readonly string[]): NodeFactory =>
  (o) =>
    new NaiveNode(o, { peers: ids, pushIntervalMs });

test('SeededRandom: one seed, one sequence; forks depend on the label only', () => {
  check(
    fc.property(fc.nat({ max: 0xffffffff }), (seed) => {
      const a = new SeededRandom(seed);
      const b = new SeededRandom(seed);
      for (let i = 0; i < 20; i++) assert.is(a.nextU32(), b.nextU32());
      const before = new SeededRandom(seed).fork('x').nextU32();
      assert.is(a.fork('x').nextU32(), before);
      const x = a.next();
      assert.ok(x >= 0 && x < 1);
      const k = a.int(3, 5);
      assert.ok(k >= 3 && k <= 5 && Number.isInteger(k));
    }),
    200,
  );
});

test('Scheduler runs events in (time, sequence) order and skips cancelled ones', () => {
  check(
    fc.property(fc.array(fc.tuple(fc.nat({ max: 50 }), fc.boolean()), { maxLength: 60 }), (specs) => {
      const s = new Scheduler();
      const ran: number[] = [];
      const events = specs.map(([at], i) => s.at(at, `e${i}`, () => ran.push(i)));
      specs.forEach(([, cancel], i) => {
        if (cancel) events[i]!.cancelled = true;
      });
      for (let e = s.pop(); e !== undefined; e = s.pop()) {
        assert.is(s.now(), e.atMs);
        e.run();
      }
      const expected = specs
        .map(([at, cancel], i) => ({ at, cancel, i }))
        .filter((x) => !x.cancel)
        .sort((a, b) => a.at - b.at || a.i - b.i)
        .map((x) => x.i);
      assert.equal(ran, expected);
    }),
  );
});

test('SimClock timers fire at their time; a halted clock fires nothing more', () => {
  const s = new Scheduler();
  const c = new SimClock(s, 'n1');
  const fired: string[] = [];
  c.setTimer(10, () => fired.push(`a@${c.now()}`));
  const t = c.setTimer(5, () => fired.push('cancelled'));
  c.setTimer(20, () => fired.push('after halt'));
  t.cancel();
  let e = s.pop();
  e!.run();
  c.halt();
  c.setTimer(1, () => fired.push('set after halt'));
  for (e = s.pop(); e !== undefined; e = s.pop()) e.run();
  assert.equal(fired, ['a@10']);
  assert.is(c.pendingTimers, 0);
});

/** A world of NaiveNodes with the given ids, fault-free. */
const naiveWorld = (seed: number, ids: readonly string[]) =>
  World.create({ seed, nodeIds: ids, config: simConfig(), factory: naive(60_000)(ids), keepTrace: true });

test('SimTransport: request and reply; PEER_ERROR becomes a KvError with its code', async () => {
  const w = await naiveWorld(1, ['n1', 'n2']);
  const t = w.node('n1').transport;
  const reply = await w.settle(t.request('n2', { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') }, 500));
  assert.equal(reply, { type: 'REPLICA_GET_REPLY', found: false, object: new Uint8Array(0) } satisfies PeerReply);
  const err = await w.settle(t.request('n2', { type: 'GOSSIP', entries: [] }, 500)).catch((e: unknown) => e);
  assert.is((err as { code: string }).code, 'KV_UNSUPPORTED');
  const via = await w.settle(t.requestAddress('n2', { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') }, 500));
  assert.is(via.from, 'n2');
  await w.shutdown();
});

test('SimNetwork: a partition times requests out until it heals; a crashed node refuses', async () => {
  const w = await naiveWorld(2, ['n1', 'n2', 'n3']);
  const get = { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') } as const;
  w.network.partition([['n1'], ['n2', 'n3']]);
  const t0 = w.now();
  const blocked = await w.settle(w.node('n1').transport.request('n2', get, 300)).catch((e: unknown) => e);
  assert.is((blocked as { code: string }).code, 'KV_TIMEOUT');
  assert.is(w.now() - t0, 300);
  const inside = await w.settle(w.node('n2').transport.request('n3', get, 300));
  assert.is(inside.type, 'REPLICA_GET_REPLY');
  w.network.heal();
  assert.is((await w.settle(w.node('n1').transport.request('n2', get, 300))).type, 'REPLICA_GET_REPLY');
  w.crash('n3');
  const refused = await w.settle(w.node('n1').transport.request('n3', get, 300)).catch((e: unknown) => e);
  assert.is((refused as { code: string }).code, 'KV_UNAVAILABLE');
  assert.throws(() => w.service('n3'), /KV_UNAVAILABLE/);
  await w.shutdown();
});

test('SimNetwork: a one-way partition loses messages in one direction only', async () => {
  const w = await naiveWorld(7, ['n1', 'n2']);
  const get = { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') } as const;
  w.network.partition([['n1'], ['n2']], true);
  assert.is(w.network.canReach('n1', 'n2'), false);
  assert.is(w.network.canReach('n2', 'n1'), true);
  // n1's request is lost; n2's request arrives but its reply (n1 to n2) is lost: both time out.
  for (const [from, to] of [['n1', 'n2'], ['n2', 'n1']] as const) {
    const e = await w.settle(w.node(from).transport.request(to, get, 200)).catch((x: unknown) => x);
    assert.is((e as { code: string }).code, 'KV_TIMEOUT', `${from} to ${to}`);
  }
  assert.ok(w.traceLines().some((l) => / n2>n1 #\d+ REPLICA_GET /.test(l)), 'the request from n2 should have arrived');
  w.network.heal();
  assert.is((await w.settle(w.node('n1').transport.request('n2', get, 200))).type, 'REPLICA_GET_REPLY');
  await w.shutdown();
});

test('SimNetwork drops every message at dropRate 1 (requests time out)', async () => {
  const w = await naiveWorld(3, ['n1', 'n2']);
  w.network.faults = { dropRate: 1, minDelayMs: 1, maxDelayMs: 1, slowRate: 0, slowDelayMs: 1 };
  const e = await w.settle(w.node('n1').transport.request('n2', { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') }, 200)).catch((x: unknown) => x);
  assert.is((e as { code: string }).code, 'KV_TIMEOUT');
  assert.ok(w.network.counters.dropped >= 1);
  await w.shutdown();
});

test('a paused node handles nothing until it resumes, then everything that arrived, in order', async () => {
  const w = await naiveWorld(5, ['n1', 'n2']);
  const get = { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') } as const;
  const t0 = w.now();
  w.pause('n2', 1000);
  // The request reaches n2 while it is stopped: the 300 ms timeout fires first.
  const late = await w.settle(w.node('n1').transport.request('n2', get, 300)).catch((e: unknown) => e);
  assert.is((late as { code: string }).code, 'KV_TIMEOUT');
  // A client call made during the pause is answered only after it.
  const read = await w.settle(w.call('n2', 'client get', (n) => n.get(Buffer.from('k'), 0, 1000)));
  assert.is(read.found, false);
  assert.ok(w.now() >= t0 + 1000, `answered at ${w.now() - t0} ms into a 1000 ms pause`);
  const lines = w.traceLines();
  const resumed = lines.findIndex((l) => / n1>n2 #\d+ REPLICA_GET/.test(l));
  assert.ok(resumed >= 0 && Number(lines[resumed]!.split(' ')[0]) >= t0 + 1000, lines[resumed]);
  await w.shutdown();
});

test('a restarted node keeps its disk and its replica id, and comes back with a higher incarnation', async () => {
  const w = await naiveWorld(4, ['n1', 'n2']);
  const key = Buffer.from('durable');
  await w.settle(w.service('n1').put(key, Buffer.from('v'), new Uint8Array(0), 0, 1000));
  const idBefore = w.node('n1').replica.replicaId;
  w.crash('n1');
  assert.is(w.node('n1').up, false);
  w.schedule(10, 'restart', () => w.restart('n1'));
  await w.runFor(20);
  const n1 = w.node('n1');
  assert.is(n1.up, true);
  assert.is(n1.incarnation, 2);
  assert.is(n1.replica.replicaId, idBefore);
  const read = await w.settle(Promise.resolve(w.service('n1').get(key, 0, 1000)));
  assert.equal(read.siblings.map((s) => Buffer.from(s.value).toString()), ['v']);
  await w.shutdown();
});

test('a wiped node restarts empty, with a new replica id and incarnation 1', async () => {
  const w = await naiveWorld(6, ['n1', 'n2']);
  const key = Buffer.from('gone');
  await w.settle(w.service('n1').put(key, Buffer.from('v'), new Uint8Array(0), 0, 1000));
  const idBefore = w.node('n1').replicaId;
  w.schedule(0, 'wipe', () => w.wipe('n1'));
  w.schedule(10, 'restart', () => w.restart('n1'));
  await w.runFor(20);
  const n1 = w.node('n1');
  assert.is(n1.up, true);
  assert.is(n1.incarnation, 1);
  assert.is.not(n1.replicaId, idBefore);
  assert.is(await n1.replica.read(key), null);
  await w.shutdown();
});

test('the naive node converges under faults on 20 seeds, and every acknowledged add survives', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = await runScenario({ seed, makeFactory: naive(), activeMs: 6000, quietMs: 6000, checkRing: false });
    assert.ok(r.ok, `seed ${seed}: ${r.violations.join('; ')}`);
    assert.ok(r.acknowledged > 0, `seed ${seed}: nothing acknowledged`);
  }
});

test('the same seed gives the same trace hash; another seed another one', async () => {
  const run = (seed: number) => runScenario({ seed, makeFactory: naive(), activeMs: 4000, quietMs: 4000, checkRing: false });
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.is(a.traceHash, b.traceHash);
  assert.is(a.events, b.events);
  assert.is.not(a.traceHash, c.traceHash);
});

test('the checker reports replicas that never converge', async () => {
  // No peers to push to and no anti-entropy: each node keeps only its own writes.
  const lonely = (): ((ids: readonly string[]) => NodeFactory) => () => (o) =>
    new NaiveNode(o, { peers: [], pushIntervalMs: 3_600_000 });
  let caught = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const r = await runScenario({ seed, makeFactory: lonely(), activeMs: 3000, quietMs: 2000, faults: false, readinessGate: false, checkRing: false });
    if (!r.ok) {
      caught++;
      assert.ok(r.violations.some((v) => /differ|lost acknowledged/.test(v)), r.violations.join('; '));
    }
  }
  assert.ok(caught >= 4, `only ${caught} of 5 runs were flagged`);
});

test.run();

/**
 * Client-driven coordination (issue 6 item 5): the SDK computes each key's
 * preference list exactly as the nodes do and sends the request to a node in
 * it, so no node forwards; a wrong table still gets correct answers (the
 * nodes forward); the client follows a ring change.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createClient, type Client } from '../../src/client/index.js';
import { routeTableOf, targetsOf } from '../../src/client/routing.js';
import { claimInitial } from '../../src/core/claim.js';
import { makeRing, partitionOfHash64, preferenceList } from '../../src/core/ring.js';
import { hash64, partitionOf } from '../../src/native/addon.js';
import { decodeRingBody, encodeRingBody, ringBodyOf } from '../../protocol/peer.js';
import * as E from 'fp-ts/lib/Either.js';
import { RawConn, startTestNode, type TestNode } from '../helpers/node.js';
import { statsOf, waitFor } from '../helpers/cluster.js';
import { check } from '../helpers/seed.js';
import { runCli } from '../helpers/cli.js';

const cli = runCli;

const fast = { gossipIntervalMs: 100, handoffIntervalMs: 200, peerTimeoutMs: 500 };

test('property: the client puts a key on the partition and preference list the node computes', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 20 }),
      (qBits, n, members, keys) => {
        const ids = Array.from({ length: members }, (_, i) => `node-${i}`);
        const ring = claimInitial(qBits, ids.map((id) => ({ id, weight: 1 })), { n });
        const address = (id: string) => `10.0.0.${ids.indexOf(id) + 1}:7401`;
        // Through the wire form, as a client gets it.
        const body = decodeRingBody(encodeRingBody(ringBodyOf({ qBits, owners: ring.owners }, n, 7n, address)));
        if (E.isLeft(body)) throw body.left;
        const table = routeTableOf(body.right);
        const nodeRing = makeRing(ring.owners);
        for (const key of keys) {
          // The node's two ways to place a key: the native partitionOf (replica.ts) and the
          // core's top bits of xxh3-64 (ring.ts); the client must agree with both.
          const p = partitionOf(key, qBits);
          assert.is(partitionOfHash64(nodeRing, hash64(key)), p);
          assert.equal(targetsOf(table, key), preferenceList(nodeRing, p, n).map(address));
        }
      },
    ),
    100,
  );
});

/** Three in-process cluster nodes, N=3 R=2 W=2, every one seeing the others. */
// On failure the nodes started so far are destroyed: a listening node left behind
// keeps the test process alive, so a failed wait would hang the file instead of failing it.
const startCluster = async (count = 3): Promise<TestNode[]> => {
  const nodes: TestNode[] = [];
  const opts = { n: 3, r: 2, w: 2, ...fast };
  try {
    nodes.push(await startTestNode({ nodeId: 'n1', cluster: true, ...opts }));
    for (let i = 2; i <= count; i++) nodes.push(await startTestNode({ nodeId: `n${i}`, join: [nodes[0]!.address], ...opts }));
    const ok = await waitFor(async () => (await Promise.all(nodes.map((n) => statsOf(n.address)))).every((s) => s['cluster.members'] === count), 30_000);
    assert.ok(ok, `every node counts ${count} members`);
    return nodes;
  } catch (e) {
    for (const n of nodes.reverse()) await n.destroy();
    throw e;
  }
};

const counter = (nodes: readonly TestNode[], name: string): number[] => nodes.map((n) => n.stats.counter(name));
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const opsOf = (node: TestNode): number => {
  const ops = node.stats.snapshot(Date.now()).ops as Record<string, number>;
  return (ops['get'] ?? 0) + (ops['put'] ?? 0) + (ops['delete'] ?? 0);
};

const writeAndRead = async (client: Client, count: number, tag: string): Promise<void> => {
  for (let i = 0; i < count; i++) await client.put(`${tag}:${i}`, `v${i}`);
  for (let i = 0; i < count; i++) {
    const r = await client.get(`${tag}:${i}`);
    assert.equal(r?.values.map((v) => v.toString()), [`v${i}`], `${tag}:${i}`);
  }
  await client.delete(`${tag}:0`, { context: (await client.getRaw(`${tag}:0`)).context });
  assert.is(await client.get(`${tag}:0`), undefined);
};

test('client routing sends every request to a preference-list node (no node forwards); any routing makes the seed forward', async () => {
  // Four nodes, N=3: a quarter of the keys are not on the seed, so `any` makes it forward.
  const nodes = await startCluster(4);
  const routed = createClient({ nodes: [nodes[0]!.address] });
  const any = createClient({ nodes: [nodes[0]!.address], routing: 'any' });
  try {
    assert.ok(await routed.refreshRing(), 'the cluster serves its ring');
    assert.is(routed.routing, 'client');
    assert.is(routed.ringVersion, nodes[0]!.cluster!.ringVersion());
    const before = counter(nodes, 'forwardedRequests');
    const opsBefore = nodes.map(opsOf);
    await writeAndRead(routed, 60, 'routed');
    assert.equal(counter(nodes, 'forwardedRequests'), before, 'no node was asked for a key outside its preference list');
    // Every node coordinated a share: the load is spread, not all on the seed.
    nodes.forEach((n, i) => assert.ok(opsOf(n) - opsBefore[i]! > 10, `${n.nodeId} coordinated ${opsOf(n) - opsBefore[i]!} requests`));
    // Each key went to a node of its list (the node's own check above); the client's list is the node's.
    const status = nodes[0]!.cluster!.status();
    assert.is(status.ringVersion, routed.ringVersion!.toString(16).padStart(16, '0'));

    await any.ping();
    assert.is(any.routing, 'any');
    const seedBefore = nodes[0]!.stats.counter('forwardedRequests');
    await writeAndRead(any, 30, 'any');
    assert.ok(nodes[0]!.stats.counter('forwardedRequests') > seedBefore, 'the seed forwards the keys it does not hold');
    // STATS carries the count, and `ringkv stats` prints it.
    const shown = await cli(['stats', '--json', '--nodes', nodes[0]!.address]);
    assert.is(shown.code, 0, shown.stdout);
    const stats = JSON.parse(shown.stdout) as Record<string, number>;
    assert.is(stats['service.forwardedRequests'], nodes[0]!.stats.counter('forwardedRequests'));
  } finally {
    await routed.close();
    await any.close();
    for (const n of nodes.reverse()) await n.destroy();
  }
});

test('a wrong routing table still gets correct answers (the nodes forward), and a refresh corrects it', async () => {
  const nodes = await startCluster(4);
  const client = createClient({ nodes: [nodes[0]!.address], ringRefreshMs: 60_000 });
  try {
    assert.ok(await client.refreshRing());
    const version = client.ringVersion!;
    // The ring as the node serves it.
    const conn = await RawConn.open(nodes[0]!.port);
    let realBody: Uint8Array;
    try {
      await conn.hello();
      conn.send({ op: 'RING', streamId: 3, body: new Uint8Array(0) });
      const reply = await conn.next();
      if (reply.op !== 'RING_REPLY') throw new Error(`RING answered ${reply.op}`);
      realBody = reply.body;
    } finally {
      conn.close();
    }
    const decoded = decodeRingBody(realBody);
    if (E.isLeft(decoded)) throw decoded.left;
    const real = decoded.right;
    // The right members, the wrong owners: every partition's owner shifted by one member.
    const shifted = { ...real, owners: real.owners.map((o) => (o + 1) % real.members.length) };
    client.useRing(encodeRingBody(shifted));
    const before = sum(counter(nodes, 'forwardedRequests'));
    await writeAndRead(client, 40, 'wrong');
    assert.ok(sum(counter(nodes, 'forwardedRequests')) > before, 'the wrong table sent requests to nodes outside the list');
    // Back to the real ring: the same answers, no forwards.
    client.useRing(realBody);
    assert.is(client.ringVersion, version);
    const after = sum(counter(nodes, 'forwardedRequests'));
    for (let i = 1; i < 40; i++) assert.equal((await client.get(`wrong:${i}`))?.values.map(String), [`v${i}`]);
    assert.is(sum(counter(nodes, 'forwardedRequests')), after);
  } finally {
    await client.close();
    for (const n of nodes.reverse()) await n.destroy();
  }
});

test('the client follows a ring change (a node joins) and routes to the newcomer without forwards', async () => {
  const nodes = await startCluster(2);
  const client = createClient({ nodes: [nodes[0]!.address], ringRefreshMs: 100 });
  try {
    assert.ok(await client.refreshRing());
    const first = client.ringVersion!;
    await writeAndRead(client, 10, 'before');
    nodes.push(await startTestNode({ nodeId: 'n3', join: [nodes[0]!.address], n: 3, r: 2, w: 2, ...fast }));
    const settled = await waitFor(async () => (await Promise.all(nodes.map((n) => statsOf(n.address)))).every((s) => s['cluster.members'] === 3), 30_000);
    assert.ok(settled);
    // The periodic refresh (100 ms here) notices the new version on its own.
    assert.ok(
      await waitFor(async () => {
        await client.ping();
        return client.ringVersion === nodes[0]!.cluster!.ringVersion() && client.ringVersion !== first;
      }, 30_000, 50),
      'the client routes by the new ring',
    );
    assert.ok(client.ringVersion !== first);
    const newcomer = nodes[2]!.address;
    assert.ok(
      Array.from({ length: 50 }, (_, i) => client.targetsOf(`after:${i}`)).some((t) => t.includes(newcomer)),
      'the new ring names the newcomer',
    );
    const before = counter(nodes, 'forwardedRequests');
    const newcomerOps = opsOf(nodes[2]!);
    await writeAndRead(client, 40, 'after');
    assert.equal(counter(nodes, 'forwardedRequests'), before);
    assert.ok(opsOf(nodes[2]!) > newcomerOps, 'the newcomer coordinates its keys');
  } finally {
    await client.close();
    for (const n of nodes.reverse()) await n.destroy();
  }
});

test('a standalone node is used as routing any (RING unsupported), and a killed target is routed around', async () => {
  const single = await startTestNode();
  const c1 = createClient({ nodes: [single.address] });
  try {
    assert.is(await c1.refreshRing(), false);
    assert.is(c1.routing, 'any');
    await c1.put('k', 'v');
    assert.equal((await c1.get('k'))?.values.map(String), ['v']);
  } finally {
    await c1.close();
    await single.destroy();
  }
  const nodes = await startCluster(3);
  const client = createClient({ nodes: nodes.map((n) => n.address), timeoutMs: 5000 });
  try {
    assert.ok(await client.refreshRing());
    await writeAndRead(client, 10, 'alive');
    await nodes[2]!.close();
    // Every request still succeeds (W=2 of the two left; the client skips or retries past n3).
    for (let i = 0; i < 30; i++) {
      const key = `dead:${i}`;
      await client.put(key, `v${i}`);
      assert.equal((await client.get(key))?.values.map(String), [`v${i}`]);
    }
  } finally {
    await client.close();
    for (const n of nodes.reverse()) await n.destroy();
  }
});

test.run();

/**
 * The process wiring of a cluster node (src/node/node.ts), in this process:
 * `cluster`/`join` start a ClusterNode, the cluster view is in STATS, HELLO_OK
 * carries the ring version, `readReplicaAt` reads one node's own replica, the
 * incarnation grows with every start, and a standalone node stays standalone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/client/index.js';
import { nextIncarnation, readReplicaAt } from '../../src/node/node.js';
import { RawConn, startTestNode, type TestNode } from '../helpers/node.js';
import { statsOf, waitFor } from '../helpers/cluster.js';
import { KvError } from '../../src/errors.js';
import { decodeConfig, isClusterNode } from '../../src/node/config.js';
import * as E from 'fp-ts/lib/Either.js';
import { decodeRingBody } from '../../protocol/peer.js';
import { runCli } from '../helpers/cli.js';

const cli = runCli;

const fast = { gossipIntervalMs: 100, handoffIntervalMs: 200, peerTimeoutMs: 500 };

test('two nodes form a cluster: every member in STATS, ring version in HELLO_OK, writes on both replicas', async () => {
  const nodes: TestNode[] = [];
  try {
    nodes.push(await startTestNode({ nodeId: 'n1', cluster: true, n: 2, r: 2, w: 2, ...fast }));
    nodes.push(await startTestNode({ nodeId: 'n2', join: [nodes[0]!.address], n: 2, r: 2, w: 2, ...fast }));
    const [a1, a2] = nodes.map((n) => n.address) as [string, string];
    assert.ok(await waitFor(async () => (await statsOf(a1))['cluster.members'] === 2 && (await statsOf(a2))['cluster.members'] === 2, 10_000), 'both count two members');
    assert.ok(nodes[0]!.cluster !== undefined && nodes[0]!.cluster.memberCount() === 2);

    const stats = await statsOf(a1);
    assert.is(stats['cluster.member.n2.up'], 1);
    assert.is(stats['cluster.member.n1.status'], 1, "gossiped status 'up' is 1");
    assert.is(stats['cluster.partitions_held'], 64, 'N=2 on two nodes: each holds every partition');
    assert.is(stats['cluster.member.n1.partitions']! + stats['cluster.member.n2.partitions']!, 64);

    const conn = await RawConn.open(nodes[0]!.port);
    try {
      const ok = await conn.hello();
      assert.is(ok.op, 'HELLO_OK');
      if (ok.op === 'HELLO_OK') assert.is(ok.ringVersion, nodes[0]!.cluster!.ringVersion(), 'HELLO_OK announces the ring version');
      assert.ok(nodes[0]!.cluster!.ringVersion() !== 0n);
      conn.send({ op: 'RING', streamId: 3, body: new Uint8Array(0) });
      const ring = await conn.next();
      assert.is(ring.op, 'RING_REPLY');
      if (ring.op === 'RING_REPLY') {
        const body = decodeRingBody(ring.body);
        assert.ok(E.isRight(body));
        if (E.isRight(body)) {
          assert.is(body.right.ringVersion, nodes[0]!.cluster!.ringVersion());
          assert.equal(body.right.members, [
            { id: 'n1', address: a1 },
            { id: 'n2', address: a2 },
          ]);
          assert.is(body.right.owners.length, 64);
          assert.is(body.right.n, 2);
        }
      }
    } finally {
      conn.close();
    }

    const client = createClient({ nodes: [a1] });
    try {
      await waitFor(async () => (await client.put('greeting', 'hello'), true), 5000);
    } finally {
      await client.close();
    }
    for (const address of [a1, a2]) {
      const local = await readReplicaAt(address, Buffer.from('greeting'), { partitionBits: 6, timeoutMs: 2000 });
      assert.equal(local.siblings.map((s) => Buffer.from(s.value).toString()), ['hello'], `replica at ${address}`);
    }
    const absent = await readReplicaAt(a2, Buffer.from('never-written'), { partitionBits: 6, timeoutMs: 2000 });
    assert.is(absent.found, false);

    // The CLI reads the same things: `get --local` per node, `status` from STATS.
    const local = await cli(['get', 'greeting', '--local', '--json', '--nodes', `${a1},${a2}`]);
    assert.is(local.code, 0, local.stdout);
    const lines = local.stdout.trim().split('\n').map((l) => JSON.parse(l) as { node: string; values: string[] });
    assert.equal(lines.map((l) => [l.node, l.values]), [[a1, ['hello']], [a2, ['hello']]]);
    const status = await cli(['status', '--json', '--nodes', a2]);
    assert.is(status.code, 0, status.stdout);
    const view = JSON.parse(status.stdout) as { memberCount: number; partitionsHeld: number; members: { id: string; up: boolean; status: string }[] };
    assert.is(view.memberCount, 2);
    assert.is(view.partitionsHeld, 64);
    assert.equal(view.members.map((m) => [m.id, m.up, m.status]), [['n1', true, 'up'], ['n2', true, 'up']]);
  } finally {
    for (const n of nodes.reverse()) await n.destroy();
  }
});

test('a standalone node has no cluster figures, no RING, and refuses node opcodes from peers with KV_UNSUPPORTED', async () => {
  const node = await startTestNode();
  try {
    assert.is(node.cluster, undefined);
    const stats = await statsOf(node.address);
    assert.not.ok(Object.keys(stats).some((k) => k.startsWith('cluster.')));
    const conn = await RawConn.open(node.port);
    try {
      await conn.hello();
      conn.send({ op: 'RING', streamId: 3, body: new Uint8Array(0) });
      const reply = await conn.next();
      assert.is(reply.op === 'ERROR' ? reply.code : reply.op, 'KV_UNSUPPORTED');
    } finally {
      conn.close();
    }
    try {
      await readReplicaAt(node.address, Buffer.from('k'), { partitionBits: 6, timeoutMs: 2000 });
      assert.unreachable('a standalone node does not serve REPLICA_GET');
    } catch (e) {
      assert.is((e as KvError).code, 'KV_UNSUPPORTED');
    }
  } finally {
    await node.destroy();
  }
});

test('cluster mode: --cluster or a non-empty --join; the cluster options decode from flags', () => {
  const decode = (flags: Record<string, unknown>) => {
    const d = decodeConfig({ flags });
    if (E.isLeft(d)) throw d.left;
    return d.right;
  };
  assert.is(isClusterNode(decode({})), false);
  assert.is(isClusterNode(decode({ cluster: true })), true);
  assert.is(isClusterNode(decode({ join: '127.0.0.1:7401' })), true);
  const c = decode({ cluster: 'true', gossipIntervalMs: '250', peerTimeoutMs: '700', handoffIntervalMs: '300', phiThreshold: '6.5', maxConsecutiveFailures: '5' });
  assert.equal([c.gossipIntervalMs, c.peerTimeoutMs, c.handoffIntervalMs, c.phiThreshold, c.maxConsecutiveFailures], [250, 700, 300, 6.5, 5]);
  assert.ok(E.isLeft(decodeConfig({ flags: { phiThreshold: '0' } })));
  assert.ok(E.isLeft(decodeConfig({ flags: { gossipIntervalMs: '1' } })));
});

test('the incarnation is one higher at every start and a corrupt INCARNATION file is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-inc-'));
  try {
    assert.is(nextIncarnation(dir), 1);
    assert.is(nextIncarnation(dir), 2);
    assert.is(nextIncarnation(dir), 3);
    writeFileSync(join(dir, 'INCARNATION'), 'garbage');
    assert.throws(() => nextIncarnation(dir), (e: unknown) => (e as KvError).code === 'KV_CORRUPTION');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

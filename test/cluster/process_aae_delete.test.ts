/**
 * Deletes that never come back, over real TCP on the log engine: a delete
 * made while one replica is down, that replica restarted with its old
 * values on disk, hints, read repair and anti-entropy all on; the
 * tombstones are then reaped on every node, and after every node restarts
 * (the log engine rebuilding its keydir from its files) no key is back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from '../../src/client/index.js';
import { readReplicaAt } from '../../src/node/node.js';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { statsOf, waitFor } from '../helpers/cluster.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const settings = {
  backend: 'log',
  durability: 'none' as const,
  partitionBits: 3,
  gossipIntervalMs: 100,
  handoffIntervalMs: 200,
  peerTimeoutMs: 1000,
  aaeIntervalMs: 50,
  aaeReapAfterMs: 300,
};

test('a delete made while a replica is down stays deleted through handoff, read repair, anti-entropy, reaping and restarts', async () => {
  const nodes: TestNode[] = [];
  const start = async (i: number, dir?: string): Promise<TestNode> =>
    startTestNode({ nodeId: `n${i + 1}`, ...(i === 0 ? { cluster: true } : { join: [nodes[0]!.address] }), ...settings }, ...(dir !== undefined ? [dir] : []));
  try {
    for (let i = 0; i < 3; i++) nodes.push(await start(i));
    const allSee = async (): Promise<boolean> => {
      for (const n of nodes) {
        const s = await statsOf(n.address);
        if (s['cluster.members'] !== 3) return false;
        for (const id of ['n1', 'n2', 'n3']) if (s[`cluster.member.${id}.up`] !== 1) return false;
      }
      return true;
    };
    assert.ok(await waitFor(allSee, 15_000), 'three members, all up');
    const keys = Array.from({ length: 30 }, (_, i) => `doomed-${i}`);
    const client = createClient({ nodes: [nodes[0]!.address], timeoutMs: 5000 });
    try {
      for (const k of keys) await client.put(k, `old value of ${k}`, { w: 3 });
      await nodes[2]!.close();
      for (const k of keys) {
        const r = await client.get(k);
        await client.delete(k, { context: r!.context });
      }
    } finally {
      await client.close();
    }
    // n3 comes back with every old value on its disk.
    nodes[2] = await start(2, nodes[2]!.dir);
    const local = async (n: TestNode, k: string) => (await readReplicaAt(n.address, Buffer.from(k), { partitionBits: 3, timeoutMs: 2000 })).found;
    let stale = 0;
    for (const k of keys) if (await local(nodes[2]!, k)) stale++;
    assert.ok(stale > 0, 'n3 restarted with old values');
    assert.ok(await waitFor(allSee, 15_000), 'n3 back and seen up');
    // Everything heals and every tombstone is reaped on every node.
    const reaped = async (): Promise<boolean> => {
      for (const n of nodes) if ((await statsOf(n.address))['service.aaeTombstones'] !== 0) return false;
      return true;
    };
    assert.ok(await waitFor(reaped, 30_000, 200), 'no tombstone left on any node');
    let reapedCount = 0;
    for (const n of nodes) reapedCount += (await statsOf(n.address))['service.aaeTombstonesReaped'] ?? 0;
    assert.ok(reapedCount >= keys.length * 3, `${reapedCount} tombstones reaped`);
    for (const n of nodes) for (const k of keys) assert.not.ok(await local(n, k), `${k} gone from ${n.nodeId}`);
    // Restart every node: the log engine rebuilds from its files, the trees come from the clean shutdown's save; nothing may come back.
    for (let i = 0; i < 3; i++) {
      const dir = nodes[i]!.dir;
      await nodes[i]!.close();
      assert.ok(existsSync(join(dir, 'AAE_TREES')), 'a clean shutdown saves the trees');
      nodes[i] = await start(i, dir);
      assert.not.ok(existsSync(join(dir, 'AAE_TREES')), 'the save is used once');
    }
    assert.ok(await waitFor(allSee, 15_000), 'the cluster is back');
    const reader = createClient({ nodes: nodes.map((n) => n.address), timeoutMs: 5000 });
    try {
      for (const k of keys) assert.is(await reader.get(k), undefined, `${k} stays deleted`);
    } finally {
      await reader.close();
    }
    for (const n of nodes) for (const k of keys) assert.not.ok(await local(n, k), `${k} still gone from ${n.nodeId} after the restart`);
  } finally {
    for (const n of nodes) await n.destroy().catch(() => undefined);
  }
});

test.run();

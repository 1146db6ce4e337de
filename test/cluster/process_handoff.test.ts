/**
 * Real node processes on loopback (issue 5 item 7): kill -9 one node, keep
 * writing at W=2, restart it, and see the hints delivered and every key back
 * on both of its replicas, each replica read directly (REPLICA_GET to that
 * node, no quorum).
 *
 * N=2 on three nodes, so a key whose preference list holds the dead node has
 * a fallback (the third node) that takes the write with a hint; with N=3 on
 * three nodes there is no fallback to hold one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { preferenceList } from '../../src/core/ring.js';
import { partitionOf } from '../../src/native/addon.js';
import { createClient } from '../../src/client/index.js';
import { readReplicaAt } from '../../src/node/node.js';
import { ProcCluster, retrying, ringAt, statsOf, waitFor, waitMembers } from '../helpers/cluster.js';

const PARTITION_BITS = 6;
const N = 2;
const flags = ['--n', String(N), '--r', '1', '--w', '2', '--gossip-interval-ms', '200', '--handoff-interval-ms', '300', '--peer-timeout-ms', '500', '--max-consecutive-failures', '2'];

const hintsFor = async (addresses: readonly string[], target: string): Promise<number> => {
  const all = await Promise.all(addresses.map(statsOf));
  return all.reduce((sum, s) => sum + (s[`cluster.hints_pending.${target}`] ?? 0), 0);
};

test('kill -9 a node, keep writing at W=2, restart it: hints are delivered and every key is on both its replicas', async () => {
  const cluster = await ProcCluster.create({ nodes: 3, flags });
  const [a1, a2, a3] = cluster.addresses as [string, string, string];
  const dump = () => cluster.nodes.map((n) => `--- ${n.id}\n${n.output.slice(-3000)}`).join('\n');
  try {
    cluster.startAll();
    assert.ok(await waitMembers(cluster.addresses, 3, 40_000), `cluster did not form\n${dump()}`);

    const written = new Map<string, string>();
    const all = createClient({ nodes: cluster.addresses, timeoutMs: 2000, retries: 2 });
    try {
      for (let i = 0; i < 20; i++) {
        await retrying(() => all.put(`before-${i}`, `v-before-${i}`, { w: 2 }));
        written.set(`before-${i}`, `v-before-${i}`);
      }
    } finally {
      await all.close();
    }

    await cluster.kill(2);
    const survivors = createClient({ nodes: [a1, a2], timeoutMs: 2000, retries: 2 });
    try {
      for (let i = 0; i < 60; i++) {
        // Until n3 is suspected, a write that needs it misses W=2 (KV_UNAVAILABLE); retrying then finds the fallback.
        await retrying(() => survivors.put(`during-${i}`, `v-during-${i}`, { w: 2 }), 60, 100);
        written.set(`during-${i}`, `v-during-${i}`);
      }
    } finally {
      await survivors.close();
    }
    const pending = await hintsFor([a1, a2], 'n3');
    assert.ok(pending > 0, `fallbacks hold hints for n3 (got ${pending})`);

    cluster.start(2);
    assert.ok(await waitFor(async () => (await hintsFor([a1, a2], 'n3')) === 0, 40_000, 200), `hints for n3 not delivered\n${dump()}`);
    const delivered = (await statsOf(a1))['counters.hintsDelivered'] ?? 0;
    const delivered2 = (await statsOf(a2))['counters.hintsDelivered'] ?? 0;
    assert.ok(delivered + delivered2 >= pending, `hintsDelivered ${delivered}+${delivered2} >= ${pending}`);

    // Every key on each of its N replicas, read directly from each node.
    const ring = await ringAt(a1);
    const addressOf: Record<string, string> = { n1: a1, n2: a2, n3: a3 };
    const missing: string[] = [];
    for (const [key, value] of written) {
      const k = Buffer.from(key);
      for (const owner of preferenceList(ring, partitionOf(k, PARTITION_BITS), N)) {
        const local = await readReplicaAt(addressOf[owner]!, k, { partitionBits: PARTITION_BITS, timeoutMs: 2000 });
        const values = local.siblings.filter((s) => !s.tombstone).map((s) => Buffer.from(s.value).toString());
        if (!values.includes(value)) missing.push(`${key}@${owner}: ${JSON.stringify(values)}`);
      }
    }
    assert.equal(missing, [], `keys missing from a replica: ${missing.slice(0, 10).join(', ')}`);
  } finally {
    await cluster.destroy();
  }
});

test.run();

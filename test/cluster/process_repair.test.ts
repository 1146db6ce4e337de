/**
 * Real node processes on loopback (issue 5 item 7): SIGSTOP one node for
 * longer than the failure detector needs, the others keep serving and mark it
 * down; SIGCONT, it is seen up again; its now stale replica is fixed by read
 * repair (read directly before and after a quorum GET).
 *
 * N=3 on three nodes: while n3 is down there is no fallback, so nothing but
 * read repair can bring n3 the write it missed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from '../../src/client/index.js';
import { readReplicaAt } from '../../src/node/node.js';
import { ProcCluster, retrying, seesUp, statsOf, waitFor, waitMembers } from '../helpers/cluster.js';

const PARTITION_BITS = 6;
const flags = ['--n', '3', '--r', '2', '--w', '2', '--gossip-interval-ms', '200', '--handoff-interval-ms', '300', '--peer-timeout-ms', '500', '--max-consecutive-failures', '2'];

const localValues = async (address: string, key: string): Promise<string[]> => {
  const r = await readReplicaAt(address, Buffer.from(key), { partitionBits: PARTITION_BITS, timeoutMs: 2000 });
  return r.siblings.filter((s) => !s.tombstone).map((s) => Buffer.from(s.value).toString());
};

test('SIGSTOP a node past the detector threshold: the others serve and mark it down; after SIGCONT it rejoins and read repair fixes its stale replica', async () => {
  const cluster = await ProcCluster.create({ nodes: 3, flags });
  const [a1, a2, a3] = cluster.addresses as [string, string, string];
  const dump = () => cluster.nodes.map((n) => `--- ${n.id}\n${n.output.slice(-3000)}`).join('\n');
  const client = createClient({ nodes: [a1, a2], timeoutMs: 2000, retries: 2 });
  try {
    cluster.startAll();
    assert.ok(await waitMembers(cluster.addresses, 3, 40_000), `cluster did not form\n${dump()}`);
    await retrying(() => client.put('cart', 'v1', { w: 3 }));
    assert.equal(await localValues(a3, 'cart'), ['v1'], 'all three replicas took v1');

    cluster.signal(2, 'SIGSTOP');
    assert.ok(await waitFor(async () => !(await seesUp(a1, 'n3')) && !(await seesUp(a2, 'n3')), 30_000, 200), `n3 not suspected\n${dump()}`);

    // The cluster keeps serving: reads and writes at R=W=2 on the two live nodes.
    const read = await retrying(() => client.getRaw('cart'));
    assert.equal(read.values.map(String), ['v1']);
    await retrying(() => client.put('cart', 'v2', { context: read.context }));
    for (let i = 0; i < 20; i++) await retrying(() => client.put(`while-stopped-${i}`, 'x'));

    cluster.signal(2, 'SIGCONT');
    assert.ok(await waitFor(async () => (await seesUp(a1, 'n3')) && (await seesUp(a2, 'n3')), 30_000, 200), `n3 not seen up again\n${dump()}`);
    assert.equal((await statsOf(a3))['cluster.members'], 3, 'n3 counts every member');

    assert.equal(await localValues(a3, 'cart'), ['v1'], "n3's replica is stale: it missed v2");
    const repairsBefore = (await statsOf(a1))['counters.readRepairs'] ?? 0;
    const onlyN1 = createClient({ nodes: [a1], timeoutMs: 2000, retries: 2 });
    try {
      const fresh = await retrying(() => onlyN1.getRaw('cart'));
      assert.equal(fresh.values.map(String), ['v2']);
    } finally {
      await onlyN1.close();
    }
    assert.ok(await waitFor(async () => (await localValues(a3, 'cart')).join() === 'v2', 10_000, 100), "read repair brought v2 to n3's replica");
    assert.ok(((await statsOf(a1))['counters.readRepairs'] ?? 0) > repairsBefore, 'the repair is counted');
  } finally {
    await client.close();
    await cluster.destroy();
  }
});

test.run();

/**
 * A joining node is killed (SIGKILL, by PID) in the middle of a partition
 * transfer and restarted (issue 6 item 6): the transfer resumes from its
 * saved cursor instead of starting over, the join completes, and every key
 * written before and during the move is on the new node's replicas, read
 * directly from its store (REPLICA_GET, no quorum, no repair).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { preferenceList } from '../../src/core/ring.js';
import { partitionOf } from '../../src/native/addon.js';
import { createClient } from '../../src/client/index.js';
import { TcpTransport, peerWireCodec } from '../../src/cluster/tcp_transport.js';
import { decodeObject } from '../../src/core/context_codec.js';
import { isTombstone, untag } from '../../src/node/replica.js';
import * as D from '../../src/core/dvvset.js';
import { ProcCluster, ringAt, statsOf, waitFor } from '../helpers/cluster.js';

const N = 3;
const PARTITION_BITS = 6;
// Small chunks and one transfer at a time, so a partition takes several chunks and the kill lands inside one.
const flags = ['--n', String(N), '--r', '2', '--w', '2', '--gossip-interval-ms', '200', '--handoff-interval-ms', '300', '--peer-timeout-ms', '800', '--aae-enabled', 'false', '--max-transfers', '1', '--transfer-chunk-keys', '4'];

const settled = (addresses: readonly string[], members: number): Promise<boolean> =>
  waitFor(async () => (await Promise.all(addresses.map(statsOf))).every((s) => s['cluster.members'] === members && s['cluster.ring_pending'] === 0), 45_000, 200);

test('kill -9 the joining node mid-transfer, restart it: the transfer resumes and completes without losing a key', async () => {
  const cluster = await ProcCluster.create({ nodes: 4, flags });
  const addr = cluster.addresses;
  const dump = () => cluster.nodes.map((n) => `--- ${n.id}\n${n.output.slice(-2500)}`).join('\n');
  const written = new Map<string, string>();
  try {
    for (let i = 0; i < 3; i++) cluster.start(i);
    assert.ok(await settled(addr.slice(0, 3), 3), `3 nodes did not form\n${dump()}`);
    const client = createClient({ nodes: addr.slice(0, 3), timeoutMs: 3000, retries: 2 });
    try {
      const value = (k: string): string => `${k}:${'x'.repeat(200)}`;
      for (let b = 0; b < 30; b++) {
        await Promise.all(
          Array.from({ length: 40 }, async (_, j) => {
            const k = `before-${b * 40 + j}`;
            await client.put(k, value(k), { w: 2 });
            written.set(k, value(k));
          }),
        );
      }

      // Writes keep coming while n4 joins, dies and comes back.
      let writing = true;
      const during = (async () => {
        for (let i = 0; writing; i++) {
          const k = `during-${i}`;
          try {
            await client.put(k, value(k), { w: 2 });
            written.set(k, value(k));
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })();

      cluster.start(3);
      // Wait until some partition is part way through (0 < keys < keys_total), then SIGKILL.
      const midway = await waitFor(
        async () => {
          const s = await statsOf(addr[3]!).catch(() => ({}) as Record<string, number>);
          return Object.keys(s).some((name) => {
            const m = /^cluster\.transfer\.(\d+)\.keys$/.exec(name);
            if (m === null) return false;
            const keys = s[name]!;
            return keys > 0 && keys < (s[`cluster.transfer.${m[1]}.keys_total`] ?? 0);
          });
        },
        30_000,
        10,
      );
      assert.ok(midway, `n4 never showed a transfer in progress\n${dump()}`);
      await cluster.kill(3);
      const before = cluster.nodes[3]!.output;
      assert.not.ok(before.includes('resumes after'), 'nothing resumed before the kill');
      await new Promise((r) => setTimeout(r, 500));
      cluster.start(3);
      assert.ok(await settled(addr, 4), `n4 did not complete its join after the restart\n${dump()}`);
      assert.ok(cluster.nodes[3]!.output.includes('resumes after'), `the interrupted transfer resumed from its cursor\n${cluster.nodes[3]!.output.slice(-3000)}`);
      writing = false;
      await during;
    } finally {
      await client.close();
    }
    const hintsLeft = (s: Record<string, number>): number => Object.entries(s).reduce((a, [k, v]) => a + (k.startsWith('cluster.hints_pending.') ? v : 0), 0);
    await waitFor(async () => (await Promise.all(addr.map(statsOf))).every((s) => hintsLeft(s) === 0), 20_000, 200);

    // Every key whose replicas now include n4 is in n4's own store.
    const ring = await ringAt(addr[0]!);
    const transport = new TcpTransport({ nodeId: `admin-${process.pid}`, codec: peerWireCodec, connectTimeoutMs: 3000 });
    const missing: string[] = [];
    let checked = 0;
    try {
      for (const [key, value] of written) {
        const k = Buffer.from(key);
        const p = partitionOf(k, PARTITION_BITS);
        if (!preferenceList(ring, p, N).includes('n4')) continue;
        checked++;
        const { reply } = await transport.requestAddress(addr[3]!, { type: 'REPLICA_GET', partition: p, key: k }, 3000);
        const obj = reply.type === 'REPLICA_GET_REPLY' && reply.found ? decodeObject(reply.object) : undefined;
        const values = obj?.ok === true ? D.values(obj.value).filter((v) => !isTombstone(v)).map((v) => Buffer.from(untag(v)).toString()) : [];
        if (!values.includes(value)) missing.push(key);
      }
    } finally {
      await transport.close();
    }
    assert.ok(checked > written.size / 2, `n4 replicates most keys (${checked} of ${written.size})`);
    assert.equal(missing, [], `keys missing on n4: ${missing.slice(0, 10).join(', ')} (${missing.length} of ${checked})`);
  } finally {
    await cluster.destroy();
  }
});

test.run();

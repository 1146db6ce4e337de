/**
 * Anti-entropy over real TCP in this process (src/node/node.ts wiring): a
 * node restarted empty (memory backend: its data is gone) gets every key
 * back through operator-triggered exchanges (AAE_EXCHANGE, §16) with hints
 * and read repair switched off; AAE_STATUS and `ringkv status` then report
 * the exchanges, and `ringkv aae` triggers one from the command line.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from '../../src/client/index.js';
import { readReplicaAt } from '../../src/node/node.js';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { statsOf, waitFor } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';

const cli = runCli;

const settings = {
  partitionBits: 3,
  gossipIntervalMs: 100,
  handoffIntervalMs: 200,
  peerTimeoutMs: 1000,
  aaeEnabled: false,
  readRepair: false,
  hintedHandoff: false,
};

test('an emptied replica is refilled by AAE_EXCHANGE alone; AAE_STATUS, ringkv status and ringkv aae report it', async () => {
  const nodes: TestNode[] = [];
  try {
    nodes.push(await startTestNode({ nodeId: 'n1', cluster: true, ...settings }));
    nodes.push(await startTestNode({ nodeId: 'n2', join: [nodes[0]!.address], ...settings }));
    nodes.push(await startTestNode({ nodeId: 'n3', join: [nodes[0]!.address], ...settings }));
    const everyoneSees = (count: number) => async () => {
      for (const n of nodes) if ((await statsOf(n.address))['cluster.members'] !== count) return false;
      return true;
    };
    assert.ok(await waitFor(everyoneSees(3), 15_000), 'three members');
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    const client = createClient({ nodes: [nodes[0]!.address] });
    try {
      for (const k of keys) await client.put(k, `value of ${k}`, { w: 3 });
    } finally {
      await client.close();
    }
    // n3 restarts on the memory backend: its replica is empty.
    await nodes[2]!.close();
    nodes[2] = await startTestNode({ nodeId: 'n3', join: [nodes[0]!.address], ...settings }, nodes[2]!.dir);
    assert.ok(
      await waitFor(async () => (await everyoneSees(3)()) && (await statsOf(nodes[0]!.address))['cluster.member.n3.up'] === 1, 15_000),
      'n3 back and seen up',
    );
    const n3 = nodes[2]!;
    const local = async (k: string) => (await readReplicaAt(n3.address, Buffer.from(k), { partitionBits: 3, timeoutMs: 2000 })).found;
    let missing = 0;
    for (const k of keys) if (!(await local(k))) missing++;
    assert.is(missing, keys.length, 'n3 starts empty');

    const admin = createClient({ nodes: [n3.address], timeoutMs: 10_000 });
    let repaired = 0;
    try {
      for (let p = 0; p < 8; p++) {
        const r = await admin.aaeExchange(p);
        assert.is(r.partition, p);
        assert.ok(r.peer === 'n1' || r.peer === 'n2', r.peer);
        repaired += r.keysRepaired;
      }
      assert.is(repaired, keys.length, 'every key repaired once');
      for (const k of keys) assert.ok(await local(k), `n3 holds ${k} again`);
      const again = await admin.aaeExchange(0);
      assert.is(again.keysRepaired, 0, 'a second exchange finds nothing to do');
      assert.is(again.differingSegments, 0);
      const status = await admin.aaeStatus();
      assert.is(status.length, 8);
      assert.is(status.reduce((n, s) => n + s.keysRepaired, 0), keys.length);
      assert.ok(status.every((s) => s.lastExchangeMs > 0));
    } finally {
      await admin.close();
    }
    const s = await cli(['status', '--nodes', n3.address]);
    assert.is(s.code, 0);
    assert.match(s.stdout, /anti-entropy:/);
    assert.match(s.stdout, /partition +0: last exchanged \d{4}-/);
    const run = await cli(['aae', '--partition', '1', '--nodes', n3.address, '--json']);
    assert.is(run.code, 0, run.stdout);
    const parsed = JSON.parse(run.stdout) as { partition: number; keysRepaired: number };
    assert.is(parsed.partition, 1);
    assert.is(parsed.keysRepaired, 0);
  } finally {
    for (const n of nodes) await n.destroy().catch(() => undefined);
  }
});

test.run();

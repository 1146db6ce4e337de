/**
 * Node authentication end to end (issue #9 items 2 and 6): in-process nodes
 * on loopback sharing a cluster secret form a cluster; a node holding the
 * wrong secret (or none) cannot join, gossip or receive a replica, and a
 * node never sends a peer request to an acceptor that cannot prove the secret.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/client/index.js';
import { readReplicaAt } from '../../src/node/node.js';
import { Secret } from '../../src/auth/secret.js';
import { addUser } from '../../src/auth/users.js';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { waitFor } from '../helpers/cluster.js';
import { rejectsWithCode } from '../helpers/assert.js';

const statsOf = async (address: string, login: { readonly user?: string; readonly password?: string } = {}): Promise<Record<string, number>> => {
  const client = createClient({ nodes: [address], timeoutMs: 1000, retries: 0, ...login });
  try {
    return await client.stats();
  } finally {
    await client.close();
  }
};

const fast = { gossipIntervalMs: 100, handoffIntervalMs: 200, peerTimeoutMs: 500, n: 2, r: 2, w: 2 };
const good = new Secret('the-cluster-secret-of-this-test');
const wrong = new Secret('not-the-cluster-secret-at-all!!');
const key = Buffer.from('payroll');

const rejectsWith = rejectsWithCode;

test('nodes sharing the secret form a cluster; a wrong or missing secret cannot join and receives no data', async () => {
  const nodes: TestNode[] = [];
  try {
    // Client auth too: users are per node, so the file is copied to n2 (the documented step).
    const dir1 = mkdtempSync(join(tmpdir(), 'ringkv-nauth-'));
    const dir2 = mkdtempSync(join(tmpdir(), 'ringkv-nauth-'));
    addUser(dir1, 'app', 'readwrite', new Secret('app-pass'), 64);
    copyFileSync(join(dir1, 'users.json'), join(dir2, 'users.json'));
    const n1 = await startTestNode({ nodeId: 'n1', cluster: true, auth: true, clusterSecret: good, ...fast }, dir1);
    nodes.push(n1);
    const n2 = await startTestNode({ nodeId: 'n2', join: [n1.address], auth: true, clusterSecret: good, ...fast }, dir2);
    nodes.push(n2);
    const intruder = await startTestNode({ nodeId: 'evil', join: [n1.address], clusterSecret: wrong, ...fast });
    nodes.push(intruder);
    const open = await startTestNode({ nodeId: 'open', join: [n1.address], ...fast });
    nodes.push(open);

    const login = { user: 'app', password: 'app-pass' };
    const members = async (a: string) => (await statsOf(a, login))['cluster.members'];
    assert.ok(await waitFor(async () => (await members(n1.address)) === 2 && (await members(n2.address)) === 2, 10_000), 'n1 and n2 see each other');

    const client = createClient({ nodes: [n1.address], ...login });
    try {
      await waitFor(async () => (await client.put(key, 'secret salaries'), true), 5000);
    } finally {
      await client.close();
    }
    // Several gossip rounds later the intruders are still outside.
    await new Promise((r) => setTimeout(r, 600));
    for (const n of [n1, n2]) {
      const s = await statsOf(n.address, login);
      assert.is(s['cluster.members'], 2, `${n.nodeId} counts only n1 and n2`);
      assert.is(s['cluster.member.evil.up'], undefined, `${n.nodeId} never learned of evil`);
      assert.is(s['cluster.member.open.up'], undefined, `${n.nodeId} never learned of open`);
    }
    assert.ok(((await statsOf(n1.address, login))['errors.KV_AUTH'] ?? 0) > 0, 'n1 refused the intruders');
    // Both replicas hold the write (read with the secret); the intruders hold nothing.
    for (const n of [n1, n2]) {
      const r = await readReplicaAt(n.address, key, { partitionBits: 6, timeoutMs: 2000, clusterSecret: good });
      assert.equal(r.siblings.map((s) => Buffer.from(s.value).toString()), ['secret salaries']);
    }
    assert.is((await readReplicaAt(intruder.address, key, { partitionBits: 6, timeoutMs: 2000, clusterSecret: wrong })).found, false);
    assert.is((await readReplicaAt(open.address, key, { partitionBits: 6, timeoutMs: 2000 })).found, false);
    assert.is((await statsOf(intruder.address))['cluster.members'], 1, 'the intruder sees only itself');

    // Peer requests without the secret, or with the wrong one, are refused before any handler runs.
    await rejectsWith(readReplicaAt(n1.address, key, { partitionBits: 6, timeoutMs: 2000 }), 'KV_AUTH');
    await rejectsWith(readReplicaAt(n2.address, key, { partitionBits: 6, timeoutMs: 2000, clusterSecret: wrong }), 'KV_AUTH');
    // And a secured node refuses to talk to an acceptor that cannot prove the secret.
    const inBefore = (await statsOf(intruder.address))['peerRequestsIn'] ?? 0;
    await rejectsWith(readReplicaAt(intruder.address, key, { partitionBits: 6, timeoutMs: 2000, clusterSecret: good }), 'KV_AUTH');
    assert.is((await statsOf(intruder.address))['peerRequestsIn'] ?? 0, inBefore, 'not one peer request reached the impostor');
  } finally {
    for (const n of nodes.reverse()) await n.destroy();
  }
});

test.run();

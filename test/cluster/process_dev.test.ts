/**
 * `ringkv dev` (what `npm start` runs): three node processes that form a
 * cluster, print their ports once every node counts every member, serve
 * writes on all three replicas, and all stop on SIGINT.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/client/index.js';
import { readReplicaAt } from '../../src/node/node.js';
import { canConnect, freeBasePort, startDev, waitFor } from '../helpers/cluster.js';

test('ringkv dev starts a 3-node cluster (N=3 R=2 W=2), every write lands on all three replicas, SIGINT stops every node', async () => {
  const base = await freeBasePort(3);
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-dev-'));
  const dev = startDev(['--base-port', String(base), '--data', dir, '--backend', 'memory']);
  const addrs = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`);
  try {
    assert.ok(await waitFor(() => dev.out.includes('Ctrl-C stops the cluster.'), 45_000, 100), `dev did not report ready:\n${dev.out}`);
    assert.match(dev.out, 'N=3 R=2 W=2');
    for (const a of addrs) assert.ok(dev.out.includes(a), `port ${a} printed`);

    const client = createClient({ nodes: addrs });
    try {
      await client.put('dev-key', 'dev-value');
    } finally {
      await client.close();
    }
    for (const a of addrs) {
      // W=2 answers before the third copy is in; it follows within a moment.
      assert.ok(
        await waitFor(async () => {
          const r = await readReplicaAt(a, Buffer.from('dev-key'), { partitionBits: 6, timeoutMs: 2000 });
          return r.siblings.some((s) => Buffer.from(s.value).toString() === 'dev-value');
        }, 5000),
        `replica at ${a}`,
      );
    }

    dev.child.kill('SIGINT');
    assert.is(await dev.exited, 0, `dev exit code\n${dev.out}`);
    for (const i of [0, 1, 2]) assert.not.ok(await canConnect(base + i), `node on ${base + i} stopped`);
  } finally {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

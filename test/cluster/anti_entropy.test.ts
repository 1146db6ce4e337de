/**
 * Active anti-entropy in the deterministic simulation (real ClusterNodes,
 * simulated network and disks): anti-entropy alone restores a wiped
 * replica, heals replicas diverged without a client read, and deletes never
 * come back while their tombstones are eventually reaped everywhere.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as D from '../../src/core/dvvset.js';
import * as M from '../../src/core/merkle.js';
import { ClusterNode } from '../../src/cluster/cluster_node.js';
import { simConfig } from '../../src/cluster/sim/scenario.js';
import { World } from '../../src/cluster/sim/world.js';
import type { ClusterConfig } from '../../src/cluster/api.js';
import { tagValue } from '../../src/node/replica.js';

const key = (i: number): Buffer => Buffer.from(`k${i}`);

const makeWorld = async (seed: number, ids: readonly string[], over: Partial<ClusterConfig>): Promise<World> => {
  const w = await World.create({ seed, nodeIds: ids, config: simConfig(over), factory: (o) => new ClusterNode(o), traceNodeLogs: false });
  await w.runFor(3000); // membership converges
  return w;
};

const cluster = (w: World, id: string): ClusterNode => w.node(id).node as ClusterNode;

const putVia = async (w: World, via: string, k: Buffer, v: string): Promise<void> => {
  await w.settle(w.call(via, `put ${k}`, (n) => n.put(k, Buffer.from(v), new Uint8Array(0), 0, 3000)));
};

const deleteVia = async (w: World, via: string, k: Buffer): Promise<void> => {
  const r = await w.settle(w.call(via, `get ${k}`, (n) => n.get(k, 0, 3000)));
  await w.settle(w.call(via, `delete ${k}`, (n) => n.put(k, null, r.context, 0, 3000)));
};

/** Each node's stored bytes of `k` (hex, or '-' when absent). */
const copies = async (w: World, ids: readonly string[], k: Buffer): Promise<string[]> => {
  const out: string[] = [];
  for (const id of ids) {
    const b = await w.settle(w.node(id).replica.readBytes(k));
    out.push(b === undefined ? '-' : Buffer.from(b).toString('hex'));
  }
  return out;
};

const treesMatch = (w: World, ids: readonly string[]): boolean => {
  const q = 2 ** w.config.partitionBits;
  for (let p = 0; p < q; p++) {
    const first = cluster(w, ids[0]!).antiEntropy.tree(p);
    for (const id of ids.slice(1)) if (!M.equals(first, cluster(w, id).antiEntropy.tree(p))) return false;
  }
  return true;
};

const noHeal: Partial<ClusterConfig> = { handoff: false, readRepair: false, aae: { intervalMs: 100 } };

test('a replica whose disk was wiped gets every key back from anti-entropy alone, and the trees then match', async () => {
  const ids = ['n1', 'n2', 'n3'];
  const w = await makeWorld(11, ids, noHeal);
  const keys = 120;
  for (let i = 0; i < keys; i++) await putVia(w, 'n1', key(i), `v${i}`);
  await w.runFor(2000);
  await w.wipe('n3');
  w.schedule(0, 'restart n3', () => w.restart('n3'));
  await w.runFor(1);
  assert.is(await w.settle(w.node('n3').data.partitions()).then((ps) => ps.length), 0, 'n3 restarts empty');
  // 16 partitions, one exchange per node every 100 ms: a few rounds.
  await w.runFor(15_000);
  assert.ok(w.node('n3').up, 'n3 restarted');
  for (let i = 0; i < keys; i++) {
    const c = await copies(w, ids, key(i));
    assert.not.equal(c[2], '-', `n3 has k${i}`);
    assert.ok(c.every((x) => x === c[0]), `k${i} equal on every replica`);
  }
  assert.ok(treesMatch(w, ids), 'every partition tree equal on all three nodes');
  assert.is(w.counter('readRepairs'), 0);
  assert.is(w.counter('hintsDelivered'), 0);
  assert.ok(w.counter('aaeKeysRepaired') >= keys, `repaired ${w.counter('aaeKeysRepaired')}`);
  assert.equal(w.errors, []);
  await w.shutdown();
});

test('replicas diverged by writes sent to one replica only converge without a client read', async () => {
  const ids = ['n1', 'n2', 'n3'];
  const w = await makeWorld(12, ids, noHeal);
  // Writes straight into each replica, never replicated: every node holds keys the others lack, and concurrent versions of shared ones.
  for (let i = 0; i < 60; i++) {
    const id = ids[i % 3]!;
    await w.settle(w.node(id).replica.coordinate(key(i), D.newValue(tagValue(Buffer.from(`only-${id}-${i}`)))));
    if (i % 10 === 0) await w.settle(w.node('n2').replica.coordinate(key(i), D.newValue(tagValue(Buffer.from(`also-n2-${i}`)))));
  }
  assert.not.ok(treesMatch(w, ids));
  await w.runFor(15_000);
  for (let i = 0; i < 60; i++) {
    const c = await copies(w, ids, key(i));
    assert.ok(c[0] !== '-' && c.every((x) => x === c[0]), `k${i} equal everywhere`);
    const obj = await w.settle(Promise.resolve(w.node('n1').replica.read(key(i))));
    assert.is(D.values(obj!).length, i % 10 === 0 ? 2 : 1, `k${i} keeps concurrent siblings`);
  }
  assert.ok(treesMatch(w, ids));
  assert.is(w.counter('readRepairs'), 0);
  assert.equal(w.errors, []);
  await w.shutdown();
});

test('a delete made while a replica is down never comes back, and its tombstones are reaped on every replica', async () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];
  // Everything on: hints, read repair, anti-entropy.
  const w = await makeWorld(13, ids, { aae: { intervalMs: 100, reapAfterMs: 5000 } });
  const keys = 40;
  for (let i = 0; i < keys; i++) await putVia(w, 'n1', key(i), `v${i}`);
  await w.runFor(3000);
  w.crash('n4');
  await w.runFor(3000); // until the others suspect n4, so writes go to fallbacks with hints
  // Half the keys get a newer value while n4 is down (a fallback's copy), then every key is deleted.
  for (let i = 0; i < keys; i += 2) await putVia(w, 'n2', key(i), `newer${i}`);
  for (let i = 0; i < keys; i++) await deleteVia(w, 'n1', key(i));
  // n4 still holds the old values: nothing may be reaped while it is away.
  await w.runFor(5000);
  assert.is(w.counter('aaeTombstonesReaped'), 0, 'no reaping while a member is down');
  w.schedule(0, 'restart n4', () => w.restart('n4'));
  await w.runFor(20_000);
  for (const via of ids) {
    for (let i = 0; i < keys; i++) {
      const r = await w.settle(w.call(via, `get k${i}`, (n) => n.get(key(i), 0, 3000)));
      assert.not.ok(r.found, `k${i} stays deleted through ${via}`);
    }
  }
  await w.runFor(20_000);
  for (let i = 0; i < keys; i++) assert.equal(await copies(w, ids, key(i)), ['-', '-', '-', '-'], `k${i} reaped everywhere`);
  for (const id of ids) assert.is(cluster(w, id).antiEntropy.tombstoneCount(), 0, `${id} holds no tombstone`);
  assert.ok(w.counter('aaeTombstonesReaped') >= keys * 3);
  // And nothing comes back afterwards either.
  await w.runFor(10_000);
  for (let i = 0; i < keys; i++) {
    const r = await w.settle(w.call('n4', `get k${i}`, (n) => n.get(key(i), 0, 3000)));
    assert.not.ok(r.found, `k${i} still deleted after reaping`);
  }
  assert.equal(w.errors, []);
  await w.shutdown();
});

test.run();

/**
 * Elastic membership in process (issue 6), on the fake transport and a
 * manual clock: a join moves only the partitions balance forces and the
 * joiner holds every key of its partitions before the plan commits, and
 * the nodes that left a partition's list drop their copies after handing
 * them on; a
 * weighted node gets a proportional share; a node that is down for good is
 * removed and its partitions are rebuilt from the surviving replicas.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as D from '../../src/core/dvvset.js';
import { ownershipCounts, preferenceList, type Ring } from '../../src/core/ring.js';
import { isTombstone, untag } from '../../src/node/replica.js';
import type { NodeId } from '../../src/core/types.js';
import { TestCluster } from '../helpers/fake_transport.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const localValues = async (c: TestCluster, id: NodeId, key: Uint8Array): Promise<string[]> => {
  const obj = await c.members.get(id)!.replica.read(key);
  if (obj === null) return [];
  return D.values(obj).filter((v) => !isTombstone(v)).map((v) => dec.decode(untag(v)));
};

const settledOn = (c: TestCluster, ids: readonly NodeId[]): boolean => {
  const versions = new Set<bigint>();
  for (const id of ids) {
    const s = c.node(id).status();
    if (s.ringPending !== false || s.ringEpoch === 0) return false;
    if (c.node(id).currentRing().nodes.length !== ids.length) return false;
    versions.add(c.node(id).ringVersion());
  }
  return versions.size === 1;
};

/** Every key on each of its N replicas in `ring`, read from the replicas' own stores. */
const missingReplicas = async (c: TestCluster, ring: Ring, written: ReadonlyMap<string, string>): Promise<string[]> => {
  const missing: string[] = [];
  const anyReplica = c.members.values().next().value!.replica;
  for (const [key, value] of written) {
    const k = enc.encode(key);
    for (const owner of preferenceList(ring, anyReplica.partitionOf(k), c.config.n)) {
      if (!(await localValues(c, owner, k)).includes(value)) missing.push(`${key}@${owner}`);
    }
  }
  return missing;
};

const writeKeys = async (c: TestCluster, via: NodeId, count: number, prefix: string, written: Map<string, string>): Promise<void> => {
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${i}`;
    await c.node(via).put(enc.encode(key), enc.encode(`v-${key}`), new Uint8Array(0), 2, 0);
    written.set(key, `v-${key}`);
  }
};

test('a join moves only what balance forces, and the joiner holds every key of its partitions', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3'], { partitionBits: 5, gossipIntervalMs: 200 });
  const written = new Map<string, string>();
  await writeKeys(c, 'n1', 200, 'a', written);
  const before = c.node('n1').currentRing();
  await c.join('n4', 'n1');
  await c.until(() => settledOn(c, ['n1', 'n2', 'n3', 'n4']), 100, 60_000);
  const after = c.node('n1').currentRing();
  const counts = [...ownershipCounts(after).values()];
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts.join(',')}`);
  const moved = after.owners.filter((o, p) => o !== before.owners[p]);
  assert.ok(moved.every((o) => o === 'n4'), 'every moved partition went to the new node');
  assert.is(moved.length, ownershipCounts(after).get('n4'));
  await c.clock.advance(2000);
  assert.equal(await missingReplicas(c, after, written), []);
  // The nodes that left a partition's list hand their copies on and then drop them.
  await c.until(() => [...c.members.values()].every((m) => (m.node.status().hintsPending[''] ?? 0) === 0 && Object.values(m.node.status().hintsPending).every((n) => n === 0)), 100, 30_000);
  await c.clock.advance(3000);
  const anyReplica = c.members.values().next().value!.replica;
  const stray: string[] = [];
  for (const [key] of written) {
    const k = enc.encode(key);
    const pref = preferenceList(after, anyReplica.partitionOf(k), c.config.n);
    for (const id of c.members.keys()) if (!pref.includes(id) && (await localValues(c, id, k)).length > 0) stray.push(`${key}@${id}`);
  }
  assert.equal(stray, [], 'no copy left outside the preference lists');
  await c.stopAll();
});

test('a rate-limited join keeps to its rate, and every request on the healthy nodes succeeds while it runs', async () => {
  const rateBytes = 40_000;
  const c = await TestCluster.start(['n1', 'n2', 'n3'], { partitionBits: 5, gossipIntervalMs: 200, transferRateBytes: rateBytes });
  const written = new Map<string, string>();
  const pad = 'x'.repeat(500);
  for (let i = 0; i < 200; i++) {
    const key = `b${i}`;
    await c.node(`n${(i % 3) + 1}`).put(enc.encode(key), enc.encode(`v-${key}-${pad}`), new Uint8Array(0), 2, 0);
    written.set(key, `v-${key}-${pad}`);
  }
  const t0 = c.clock.now();
  await c.join('n4', 'n1');
  const failures: string[] = [];
  let requests = 0;
  let round = 0;
  while (!settledOn(c, ['n1', 'n2', 'n3', 'n4'])) {
    assert.ok(c.clock.now() - t0 < 120_000, 'the join settles');
    const batch: Promise<unknown>[] = [];
    for (const via of ['n1', 'n2', 'n3'] as const) {
      const key = `c${round}-${via}`;
      const value = `v-${key}`;
      batch.push(c.node(via).put(enc.encode(key), enc.encode(value), new Uint8Array(0), 2, 0).then(() => void written.set(key, value)));
      batch.push(c.node(via).get(enc.encode(`b${(round * 7) % 200}`), 2, 0));
    }
    round++;
    requests += batch.length;
    await c.clock.advance(100);
    for (const r of await Promise.allSettled(batch)) if (r.status === 'rejected') failures.push(String(r.reason));
  }
  const elapsedMs = c.clock.now() - t0;
  assert.equal(failures, [], `${failures.length} of ${requests} requests failed during the join`);
  const bytes = c.node('n4').stats().transferBytes!;
  assert.ok(bytes > 0, 'the joiner received by transfer');
  // Every chunk is paid for before the next one (and before its partition is done).
  assert.ok(elapsedMs >= (bytes * 1000) / rateBytes, `${bytes} bytes in ${elapsedMs} virtual ms at ${rateBytes} B/s`);
  const after = c.node('n1').currentRing();
  await c.clock.advance(2000);
  assert.equal(await missingReplicas(c, after, written), []);
  await c.stopAll();
});

test('a node of weight 2 gets twice the share of a node of weight 1', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3'], { partitionBits: 6, gossipIntervalMs: 200 });
  await c.join('n4', 'n1', 2);
  await c.until(() => settledOn(c, ['n1', 'n2', 'n3', 'n4']), 100, 60_000);
  const counts = ownershipCounts(c.node('n2').currentRing());
  // Q = 64 over weights 1,1,1,2: quotas 12.8 ×3 and 25.6.
  assert.ok(counts.get('n4')! >= 25 && counts.get('n4')! <= 26, `n4 owns ${counts.get('n4')}`);
  for (const id of ['n1', 'n2', 'n3']) assert.ok(counts.get(id)! >= 12 && counts.get(id)! <= 13, `${id} owns ${counts.get(id)}`);
  await c.stopAll();
});

test('a node down for good is removed: its partitions are rebuilt from the surviving replicas', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3', 'n4'], { partitionBits: 5, gossipIntervalMs: 200 });
  const written = new Map<string, string>();
  await writeKeys(c, 'n2', 150, 'r', written);
  await c.clock.advance(1000);
  await c.crash('n4');
  c.node('n1').remove('n4');
  const alive = ['n1', 'n2', 'n3'];
  await c.until(() => settledOn(c, alive), 100, 60_000);
  const ring = c.node('n1').currentRing();
  assert.not.ok(ring.owners.includes('n4'), 'n4 owns nothing');
  await c.clock.advance(3000);
  assert.equal(await missingReplicas(c, ring, written), [], 'every key is on its three surviving replicas');
  await c.stopAll();
});

test.run();

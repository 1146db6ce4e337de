import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestCluster } from '../helpers/fake_transport.js';
import { preferenceList } from '../../src/core/ring.js';
import { claimInitial } from '../../src/core/claim.js';
import * as D from '../../src/core/dvvset.js';
import { encodeObject } from '../../src/core/context_codec.js';
import { isTombstone, untag } from '../../src/node/replica.js';
import { isKvError } from '../../src/errors.js';
import type { NodeId } from '../../src/core/types.js';

// Background work must never reject unhandled; the last test checks this list.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => void unhandled.push(e));

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

/** The values a node's local replica holds for `key` (sorted), read directly from its store. */
const localValues = async (c: TestCluster, id: NodeId, key: Uint8Array): Promise<string[]> => {
  const obj = await c.members.get(id)!.replica.read(key);
  if (obj === null) return [];
  return D.values(obj).map((v) => (isTombstone(v) ? '<tombstone>' : dec.decode(untag(v)))).sort();
};

/** The key's preference list of length n, as every converged node computes it. */
const prefOf = (c: TestCluster, key: Uint8Array): readonly NodeId[] => {
  const ring = c.members.values().next().value!.node.currentRing();
  return preferenceList(ring, c.members.values().next().value!.replica.partitionOf(key), c.config.n);
};

/** A key whose preference list includes `inside` and excludes `outside` (when given). */
const keyWhere = (c: TestCluster, pred: (pref: readonly NodeId[]) => boolean, prefix = 'k'): Uint8Array => {
  for (let i = 0; i < 10_000; i++) {
    const k = bytes(`${prefix}${i}`);
    if (pred(prefOf(c, k))) return k;
  }
  throw new Error('no such key');
};

/** How a call ended: 'ok' or its KvError code (the call may answer at once or with a promise). */
const codeOf = async (p: unknown): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isKvError(e) ? e.code : `not a KvError: ${String(e)}`;
  }
};

test('a write replicates to the N nodes of the preference list and reads back', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3', 'n4']);
  const key = keyWhere(c, (p) => p.includes('n1'));
  await c.node('n1').put(key, bytes('v1'), new Uint8Array(0), 0, 0);
  await c.clock.advance(10);
  const pref = prefOf(c, key);
  for (const id of c.members.keys()) {
    assert.equal(await localValues(c, id, key), pref.includes(id) ? ['v1'] : [], `${id} holds the key iff it is in ${pref.join(',')}`);
  }
  for (const id of c.members.keys()) {
    const r = await c.node(id).get(key, 0, 0);
    assert.ok(r.found);
    assert.equal(r.siblings.map((s) => dec.decode(s.value)), ['v1']);
  }
  await c.stopAll();
});

test('W and R quorums: w = r = n succeed with every node up; r or w > n is KV_BAD_ARGUMENT', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  const key = bytes('quorum');
  await c.node('n2').put(key, bytes('x'), new Uint8Array(0), 3, 0);
  // w = 3: all three already hold it when the put resolves.
  for (const id of ['n1', 'n2', 'n3']) assert.equal(await localValues(c, id, key), ['x']);
  const r = await c.node('n3').get(key, 3, 0);
  assert.equal(r.siblings.map((s) => dec.decode(s.value)), ['x']);
  assert.is(await codeOf(c.node('n1').put(key, bytes('y'), new Uint8Array(0), 4, 0)), 'KV_BAD_ARGUMENT');
  assert.is(await codeOf(Promise.resolve().then(() => c.node('n1').get(key, 4, 0))), 'KV_BAD_ARGUMENT');
  await c.stopAll();
});

test('a request to a node outside the preference list is forwarded to a target', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3', 'n4']);
  const key = keyWhere(c, (p) => !p.includes('n4'));
  const w = await c.node('n4').put(key, bytes('fwd'), new Uint8Array(0), 0, 0);
  assert.ok(w.context.length > 0, 'the forwarded put returns the coordinator context');
  assert.is(c.members.get('n4')!.stats.counter('forwarded'), 1);
  assert.equal(await localValues(c, 'n4', key), [], 'the non-target stores nothing');
  const r = await c.node('n4').get(key, 0, 0);
  assert.equal(r.siblings.map((s) => dec.decode(s.value)), ['fwd']);
  assert.is(c.members.get('n4')!.stats.counter('forwarded'), 2);
  assert.ok(c.net.delivered.some((d) => d.from === 'n4' && d.type === 'FORWARD'));
  await c.stopAll();
});

/**
 * Four nodes; a key whose preference list has n3 but not first; n3 crashes and
 * its coordinator writes `value` at W=2, so the node outside the list stores it
 * as a hint for n3.
 */
const hintedWrite = async (value: string): Promise<{ c: TestCluster; key: Uint8Array; coordinator: string; fallback: string }> => {
  const c = await TestCluster.start(['n1', 'n2', 'n3', 'n4']);
  await c.clock.advance(5000);
  const key = keyWhere(c, (p) => p.includes('n3') && p[0] !== 'n3');
  const coordinator = prefOf(c, key)[0]!;
  const fallback = [...c.members.keys()].find((id) => !prefOf(c, key).includes(id))!;
  await c.crash('n3');
  await c.until(() => !c.node(coordinator).isUp('n3'));
  await c.node(coordinator).put(key, bytes(value), new Uint8Array(0), 2, 0);
  await c.clock.advance(10);
  return { c, key, coordinator, fallback };
};

test('with a primary down, a W=2 write goes to a fallback that keeps a durable hint', async () => {
  const { c, key, fallback } = await hintedWrite('h1');
  assert.equal(await localValues(c, fallback, key), ['h1'], 'the fallback holds the object');
  assert.equal(c.node(fallback).status().hintsPending, { n3: 1 });
  assert.is(c.members.get(fallback)!.stats.counter('hintsStored'), 1);
  const gauges = c.members.get(fallback)!.stats.snapshot(c.clock.now()).gauges as Record<string, number>;
  assert.is(gauges['hintsPending'], 1);
  assert.is(gauges['hintsPending.n3'], 1, 'pending hints per target');
  assert.equal(await localValues(c, 'n3', key), [], 'the down owner has nothing yet');
  await c.stopAll();
});

test('when the owner returns the hint is delivered, and deleted only after its ACK', async () => {
  const { c, key, fallback } = await hintedWrite('h2');
  assert.is(c.node(fallback).status().hintsPending['n3'], 1);
  // n3 comes back, but every ACK of a hint batch is lost: n3 applies it, the hint must stay.
  let batches = 0;
  c.net.filter = (_from, _to, req, leg) => {
    if (req.type !== 'REPLICA_PUT_BATCH') return true;
    if (leg === 'request') batches++;
    return leg === 'request';
  };
  await c.restart('n3');
  await c.until(() => batches >= 2);
  assert.equal(await localValues(c, 'n3', key), ['h2'], 'n3 applied the batch');
  assert.is(c.node(fallback).status().hintsPending['n3'], 1, 'no ACK, no delete');
  assert.is(c.members.get(fallback)!.stats.counter('hintsDelivered'), 0);
  c.net.filter = () => true;
  await c.until(() => c.node(fallback).status().hintsPending['n3'] === undefined);
  assert.is(c.members.get(fallback)!.stats.counter('hintsDelivered'), 1);
  assert.is((c.members.get(fallback)!.stats.snapshot(0).gauges as Record<string, number>)['hintsPending'], 0);
  await c.stopAll();
});

test('hints survive a restart of the fallback and are delivered afterwards', async () => {
  const { c, key, fallback } = await hintedWrite('h3');
  // The fallback restarts: a new ClusterNode over the same (reopened) hint backend.
  await c.crash(fallback);
  await c.restart(fallback);
  assert.equal(c.node(fallback).status().hintsPending, { n3: 1 }, 'the hint was loaded from the store');
  await c.restart('n3');
  await c.until(() => c.node(fallback).status().hintsPending['n3'] === undefined);
  assert.equal(await localValues(c, 'n3', key), ['h3']);
  await c.stopAll();
});

test('read repair sends the merged object to a stale replica', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  const key = bytes('repair-me');
  const first = await c.node('n1').put(key, bytes('old'), new Uint8Array(0), 3, 0);
  // n3 misses the second write (its REPLICA_PUT is dropped) but stays up.
  c.net.filter = (_f, to, req) => !(to === 'n3' && req.type === 'REPLICA_PUT');
  await c.node('n1').put(key, bytes('new'), first.context, 2, 0);
  await c.clock.advance(10);
  assert.equal(await localValues(c, 'n3', key), ['old']);
  c.net.filter = () => true;
  const r = await c.node('n2').get(key, 2, 0);
  assert.equal(r.siblings.map((s) => dec.decode(s.value)), ['new'], 'the newer version wins the merge');
  await c.clock.advance(10);
  assert.equal(await localValues(c, 'n3', key), ['new'], 'n3 was repaired');
  assert.is(c.members.get('n2')!.stats.counter('readRepairs'), 1);
  await c.stopAll();
});

test('a quorum that cannot be met fails fast with KV_UNAVAILABLE (no waiting for the deadline)', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  await c.clock.advance(5000);
  await c.crash('n2');
  await c.crash('n3');
  await c.until(() => !c.node('n1').isUp('n2') && !c.node('n1').isUp('n3'));
  const t0 = c.clock.now();
  assert.is(await codeOf(c.node('n1').put(bytes('k'), bytes('v'), new Uint8Array(0), 2, 0)), 'KV_UNAVAILABLE');
  assert.is(await codeOf(c.node('n1').get(bytes('k'), 2, 0)), 'KV_UNAVAILABLE');
  assert.is(c.clock.now(), t0, 'answered without the clock moving');
  // W = 1 still works: the node is always writeable for what it can hold.
  await c.node('n1').put(bytes('k'), bytes('v'), new Uint8Array(0), 1, 0);
  await c.stopAll();
});

test('a request whose peers stop answering ends by its deadline with KV_TIMEOUT or KV_UNAVAILABLE', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3'], { requestTimeoutMs: 2000, peerTimeoutMs: 1000 });
  // Replies are lost, but the peers are not suspected yet: the coordinator has to wait.
  c.net.filter = (_f, _t, req, leg) => !(leg === 'reply' && (req.type === 'REPLICA_PUT' || req.type === 'REPLICA_GET'));
  let putCode: string | undefined;
  let getCode: string | undefined;
  void codeOf(c.node('n1').put(bytes('t'), bytes('v'), new Uint8Array(0), 2, 0)).then((x) => (putCode = x));
  void codeOf(c.node('n1').get(bytes('t'), 2, 0)).then((x) => (getCode = x));
  await c.clock.advance(2000);
  assert.ok(putCode === 'KV_TIMEOUT' || putCode === 'KV_UNAVAILABLE', `put ended with ${putCode}`);
  assert.ok(getCode === 'KV_TIMEOUT' || getCode === 'KV_UNAVAILABLE', `get ended with ${getCode}`);
  await c.stopAll();
});

test('concurrent writes become siblings; a write with the read context resolves them', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  const key = bytes('cart');
  await Promise.all([
    c.node('n1').put(key, bytes('apple'), new Uint8Array(0), 2, 0),
    c.node('n2').put(key, bytes('pear'), new Uint8Array(0), 2, 0),
  ]);
  await c.clock.advance(10);
  const r = await c.node('n3').get(key, 3, 0);
  assert.equal(r.siblings.map((s) => dec.decode(s.value)).sort(), ['apple', 'pear']);
  await c.node('n3').put(key, bytes('apple,pear'), r.context, 2, 0);
  await c.clock.advance(10);
  for (const id of ['n1', 'n2', 'n3']) {
    const after = await c.node(id).get(key, 3, 0);
    assert.equal(after.siblings.map((s) => dec.decode(s.value)), ['apple,pear'], `${id} sees one value`);
  }
  // A delete with the context hides the value everywhere.
  const last = await c.node('n1').get(key, 2, 0);
  await c.node('n1').put(key, null, last.context, 2, 0);
  const gone = await c.node('n2').get(key, 2, 0);
  assert.not.ok(gone.found);
  await c.stopAll();
});

test('a joining node refuses client requests until it has heard from the cluster', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  c.net.isolated.add('n4');
  const n4 = await c.join('n4', 'n1');
  assert.not.ok(n4.isReady());
  assert.is(await codeOf(n4.put(bytes('early'), bytes('v'), new Uint8Array(0), 1, 0)), 'KV_UNAVAILABLE');
  assert.is(await codeOf(n4.get(bytes('early'), 1, 0)), 'KV_UNAVAILABLE');
  c.net.isolated.delete('n4');
  await c.converge();
  assert.ok(n4.isReady());
  await n4.put(bytes('early'), bytes('v'), new Uint8Array(0), 2, 0);
  await c.stopAll();
});

test('after nodes join, data written under the smaller ring reaches every replica of the new ring', async () => {
  const c = await TestCluster.start(['n1', 'n2']);
  const keys = Array.from({ length: 40 }, (_, i) => bytes(`early${i}`));
  for (const k of keys) await c.node('n1').put(k, bytes('v'), new Uint8Array(0), 2, 0);
  await c.join('n3', 'n1');
  await c.join('n4', 'n2');
  await c.converge();
  await c.clock.advance(3 * c.config.handoffIntervalMs);
  await c.until(() => [...c.members.values()].every((m) => m.node.status().hintsPending['n3'] === undefined && m.node.status().hintsPending['n4'] === undefined));
  for (const k of keys) {
    for (const id of prefOf(c, k)) assert.equal(await localValues(c, id, k), ['v'], `${id} holds ${dec.decode(k)}`);
  }
  // Issue 6: the joiners received the data by partition transfer (not by ring-change hints).
  assert.ok(c.members.get('n3')!.stats.counter('transferKeys') + c.members.get('n4')!.stats.counter('transferKeys') > 0);
  await c.stopAll();
});

test('a restarted node does not re-hint the data it already held', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  for (let i = 0; i < 30; i++) await c.node('n1').put(bytes(`held${i}`), bytes('v'), new Uint8Array(0), 3, 0);
  // Peers keep writing to n2 while it comes back: those copies were placed by their rings, not its own.
  await c.crash('n2');
  await c.restart('n2');
  await c.converge();
  await c.node('n1').put(bytes('during'), bytes('v'), new Uint8Array(0), 2, 0);
  await c.clock.advance(3000);
  assert.is(c.members.get('n2')!.stats.counter('ringChangeHints'), 0);
  assert.equal(c.node('n2').status().hintsPending, {});
  await c.stopAll();
});

test('a forwarded request whose answers are lost ends by its deadline', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3', 'n4'], { requestTimeoutMs: 1500 });
  const key = keyWhere(c, (p) => !p.includes('n4'));
  c.net.filter = (_f, _t, req, leg) => !(req.type === 'FORWARD' && leg === 'reply');
  let code: string | undefined;
  void codeOf(c.node('n4').put(key, bytes('v'), new Uint8Array(0), 0, 0)).then((x) => (code = x));
  await c.clock.advance(1500);
  assert.ok(code === 'KV_TIMEOUT' || code === 'KV_UNAVAILABLE', `ended with ${code}`);
  await c.stopAll();
});

test('bad peer input is refused with KV_BAD_ARGUMENT and applies nothing', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  const n1 = c.node('n1');
  const key = bytes('peer-input');
  const p = c.members.get('n1')!.replica.partitionOf(key);
  const good = await c.node('n2').put(key, bytes('v'), new Uint8Array(0), 3, 0);
  assert.ok(good.context.length > 0);
  const obj = (await c.members.get('n2')!.replica.read(key))!;
  const object = encodeObject(obj);
  const other = bytes('other-key');
  assert.is(await codeOf(n1.handlePeer('n2', { type: 'REPLICA_PUT', partition: (p + 1) % 2 ** c.config.partitionBits, key, object, hintFor: '' })), 'KV_BAD_ARGUMENT');
  assert.is(await codeOf(n1.handlePeer('n2', { type: 'REPLICA_PUT', partition: p, key, object: bytes('junk'), hintFor: '' })), 'KV_BAD_ARGUMENT');
  const batch = [
    { partition: c.members.get('n1')!.replica.partitionOf(other), key: other, object },
    { partition: p, key, object: bytes('junk') },
  ];
  assert.is(await codeOf(n1.handlePeer('n2', { type: 'REPLICA_PUT_BATCH', items: batch })), 'KV_BAD_ARGUMENT');
  assert.equal(await localValues(c, 'n1', other), [], 'no item of a refused batch is applied');
  // A replica read is answered at once; a wrong partition still comes back as a rejection, never a throw.
  const wrong = n1.handlePeer('n2', { type: 'REPLICA_GET', partition: (p + 1) % 2 ** c.config.partitionBits, key });
  assert.ok(wrong instanceof Promise, 'a refused read is a rejected promise');
  assert.is(await codeOf(wrong), 'KV_BAD_ARGUMENT');
  const reply = await n1.handlePeer('n2', { type: 'REPLICA_GET', partition: p, key });
  assert.is(reply.type, 'REPLICA_GET_REPLY');
  await c.stopAll();
});

test('no background work ended in an unhandled rejection', async () => {
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(unhandled.map(String), []);
});

test.run();

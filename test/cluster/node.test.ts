import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestCluster } from '../helpers/fake_transport.js';
import { preferenceList, sloppyPreferenceList } from '../../src/core/ring.js';
import { claimInitial } from '../../src/core/claim.js';
import * as D from '../../src/core/dvvset.js';
import { isTombstone, untag } from '../../src/node/replica.js';
import { isKvError } from '../../src/errors.js';
import type { NodeId } from '../../src/core/types.js';

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
  const ring = claimInitial(c.config.partitionBits, [...c.members.keys()].map((id) => ({ id })), { n: c.config.n });
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

const codeOf = async (p: Promise<unknown>): Promise<string> => {
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

test.run();

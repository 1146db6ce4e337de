import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import { HintStore, decodeHintKey, encodeHintKey } from '../../src/cluster/hints.js';
import { createMemoryBackend } from '../../src/storage/memory.js';
import { TestCluster } from '../helpers/fake_transport.js';
import { MAX_BATCH_ITEMS } from '../../src/cluster/handoff.js';

const enc = new TextEncoder();

test('decodeHintKey(encodeHintKey(t, p, k)) = { t, p, k }', () => {
  check(
    fc.property(
      fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.uint8Array({ maxLength: 64 }),
      (target, partition, key) => {
        const h = decodeHintKey(encodeHintKey(target, partition, key));
        assert.equal(h, { target, partition, key });
      },
    ),
    200,
  );
});

test('decodeHintKey says why a record key is not a hint', () => {
  assert.type(decodeHintKey(new Uint8Array([0, 1])), 'string');
  assert.type(decodeHintKey(new Uint8Array([0, 0, 0, 0])), 'string');
  assert.type(decodeHintKey(new Uint8Array([0, 9, 65, 0, 0])), 'string');
  assert.type(decodeHintKey(new Uint8Array([0, 1, 0xff, 0, 0])), 'string', 'target must be UTF-8');
});

test('a hint is removed only if no add touched it since it was listed', async () => {
  const hs = await HintStore.open(await createMemoryBackend({}));
  await hs.add('n3', 7, enc.encode('a'));
  await hs.add('n3', 7, enc.encode('b'));
  await hs.add('n4', 1, enc.encode('a'));
  assert.equal(hs.counts(), { n3: 2, n4: 1 });
  const [a, b] = hs.pending('n3');
  await hs.add('n3', 7, enc.encode('a')); // a newer write re-hints key a during delivery
  assert.is(await hs.removeIfUnchanged(a!), false, 'changed since listed: kept');
  assert.is(await hs.removeIfUnchanged(b!), true);
  assert.is(await hs.removeIfUnchanged(b!), false, 'already gone');
  assert.equal(hs.counts(), { n3: 1, n4: 1 });
  const [a2] = hs.pending('n3');
  assert.is(await hs.removeIfUnchanged(a2!), true);
  assert.equal(hs.counts(), { n4: 1 });
  assert.is(hs.count(), 1);
  assert.equal(hs.targets(), ['n4']);
});

test('hints are durable: a store reopened on the same backend sees exactly the remaining ones', async () => {
  const backend = await createMemoryBackend({});
  const hs = await HintStore.open(backend);
  for (let i = 0; i < 300; i++) await hs.add(i % 2 === 0 ? 'n2' : 'n5', i % 64, enc.encode(`key${i}`));
  for (const h of hs.pending('n2', 100)) await hs.removeIfUnchanged(h);
  const again = await HintStore.open(backend);
  assert.equal(again.counts(), { n2: 50, n5: 150 });
  const keys = new Set(again.pending('n5').map((h) => new TextDecoder().decode(h.key)));
  assert.ok(keys.has('key1') && keys.has('key299'));
  assert.ok(again.pending('n5').every((h) => h.partition === Number(new TextDecoder().decode(h.key).slice(3)) % 64));
});

test('a record that is not a hint is reported at open and left alone', async () => {
  const backend = await createMemoryBackend({});
  const store = await backend.open(0);
  await store.put(new Uint8Array([0, 1]), new Uint8Array(0));
  const bad: string[] = [];
  const hs = await HintStore.open(backend, (why) => void bad.push(why));
  assert.is(bad.length, 1);
  assert.is(hs.count(), 0);
  assert.is(store.count(), 1);
});

test('many hints go over in batches of at most 256 items, one batch in flight per target', async () => {
  // N = 2 on 3 nodes: with n3 down, each of its keys has one fallback.
  const c = await TestCluster.start(['n1', 'n2', 'n3'], { n: 2, r: 1, w: 1 });
  await c.clock.advance(5000);
  await c.crash('n3');
  await c.until(() => !c.node('n1').isUp('n3') && !c.node('n2').isUp('n3'));
  for (let i = 0; i < 1600; i++) await c.node(i % 2 === 0 ? 'n1' : 'n2').put(enc.encode(`bulk${i}`), enc.encode('v'), new Uint8Array(0), 1, 0);
  await c.clock.advance(10); // the last puts' copies to their fallbacks (W = 1 answered before them)
  const total = (): number => (c.node('n1').status().hintsPending['n3'] ?? 0) + (c.node('n2').status().hintsPending['n3'] ?? 0);
  assert.ok((c.node('n1').status().hintsPending['n3'] ?? 0) > MAX_BATCH_ITEMS, `${c.node('n1').status().hintsPending['n3']} hints on n1 for n3`);
  const before = total();
  const sizes: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  c.net.filter = (from, to, req, leg) => {
    if (req.type === 'REPLICA_PUT_BATCH' && from === 'n1' && to === 'n3') {
      if (leg === 'request') {
        sizes.push(req.items.length);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
      } else inFlight--;
    }
    return true;
  };
  await c.restart('n3');
  await c.until(() => total() === 0);
  assert.ok(sizes.length >= 2 && sizes.every((n) => n <= MAX_BATCH_ITEMS), `batch sizes ${sizes.join(',')}`);
  assert.is(maxInFlight, 1);
  const delivered = [...c.members.values()].reduce((a, m) => a + m.stats.counter('hintsDelivered'), 0);
  assert.is(delivered, before);
  await c.stopAll();
});

test.run();

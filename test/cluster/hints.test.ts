import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import { HintStore, decodeHintKey, encodeHintKey } from '../../src/cluster/hints.js';
import { createMemoryBackend } from '../../src/storage/memory.js';

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

test.run();

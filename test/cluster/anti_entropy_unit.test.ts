/**
 * AntiEntropy's live state on one node: after any mix of coordinated
 * writes, merges and reaps, the live tree equals a tree rebuilt by a fold,
 * and the segment index lists exactly the stored keys.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import * as D from '../../src/core/dvvset.js';
import * as M from '../../src/core/merkle.js';
import { AntiEntropy, defaultAaeConfig, itemHash, itemHashChange } from '../../src/cluster/anti_entropy.js';
import { Replica, tagValue, tombstone } from '../../src/node/replica.js';
import { NodeStats } from '../../src/node/stats.js';
import { createMemoryBackend } from '../../src/storage/memory.js';
import type { StorageBackend } from '../../src/storage/backend.js';
import { realClock } from '../../src/cluster/real_clock.js';

const QBITS = 2;

const node = async (backend: StorageBackend, saved?: Uint8Array, logs: string[] = []): Promise<{ replica: Replica; aae: AntiEntropy }> => {
  const replica = new Replica({ backend, replicaId: 'a/1', partitionBits: QBITS });
  await replica.openAll(await backend.partitions());
  const aae = new AntiEntropy({
    self: 'a',
    replica,
    config: { ...defaultAaeConfig, enabled: false, leafBits: 4, fanoutBits: 2 },
    clock: realClock,
    stats: new NodeStats(0),
    peerTimeoutMs: 1000,
    request: () => Promise.reject(new Error('no peers')),
    primariesOf: () => ['a'],
    members: () => ['a'],
    isUp: () => true,
    hintPending: () => false,
    stopped: () => false,
    log: (_level, msg) => void logs.push(msg),
  });
  await aae.start(saved);
  return { replica, aae };
};

type Op = { kind: 'put' | 'delete' | 'merge' | 'reap'; key: number };

test('live trees and the segment index equal a rebuild after any writes, merges and reaps', async () => {
  await check(
    fc.asyncProperty(
      fc.array(fc.record({ kind: fc.constantFrom<Op['kind']>('put', 'delete', 'merge', 'reap'), key: fc.nat({ max: 40 }) }), { maxLength: 80 }),
      async (ops) => {
        const backend = await createMemoryBackend();
        const { replica, aae } = await node(backend);
        for (const op of ops) {
          const key = Buffer.from(`key-${op.key}`);
          if (op.kind === 'put') await replica.coordinate(key, D.newValue(tagValue(Buffer.from(`v${op.key}`))));
          else if (op.kind === 'delete') {
            const cur = await replica.read(key);
            await replica.coordinate(key, D.newWithContext(cur === null ? D.emptyContext : D.join(cur), tombstone()));
          } else if (op.kind === 'merge') await replica.merge(key, D.update(D.newValue(tagValue(Buffer.from('other'))), 'b/1', D.empty));
          else await replica.removeIf(key, () => true);
        }
        const rebuilt = await node(backend);
        for (let p = 0; p < 2 ** QBITS; p++) {
          assert.ok(M.equals(aae.tree(p), rebuilt.aae.tree(p)), `partition ${p} tree`);
          const all = Array.from({ length: 16 }, (_, i) => i);
          const req = { type: 'AAE_SEGMENTS' as const, partition: p, leafBits: 4, fanoutBits: 2, segments: all };
          const live = await aae.handle(req);
          const fresh = await rebuilt.aae.handle(req);
          const keys = (r: typeof live): string[] => (r.type === 'AAE_SEGMENTS_REPLY' ? r.items.map((it) => `${Buffer.from(it.key).toString()}:${it.hi}:${it.lo}`).sort() : []);
          assert.equal(keys(live), keys(fresh), `partition ${p} listing`);
        }
        assert.is(aae.tombstoneCount(), rebuilt.aae.tombstoneCount());
      },
    ),
    60,
  );
});

test('saved trees restore exactly; damaged or stale saves are rebuilt instead', async () => {
  const backend = await createMemoryBackend();
  const { replica, aae } = await node(backend);
  for (let i = 0; i < 60; i++) await replica.coordinate(Buffer.from(`k${i}`), D.newValue(i % 5 === 0 ? tombstone() : tagValue(Buffer.from(`v${i}`))));
  const saved = aae.persist();
  const same = (x: AntiEntropy, y: AntiEntropy): boolean => Array.from({ length: 2 ** QBITS }, (_, p) => M.equals(x.tree(p), y.tree(p))).every(Boolean);

  const logs: string[] = [];
  const restored = await node(backend, saved, logs);
  assert.ok(same(aae, restored.aae), 'restored trees equal the live ones');
  assert.is(restored.aae.tombstoneCount(), aae.tombstoneCount());
  assert.equal(logs, [], 'the save was used');
  const seg = { type: 'AAE_SEGMENTS' as const, partition: 1, leafBits: 4, fanoutBits: 2, segments: Array.from({ length: 16 }, (_, i) => i) };
  const count = (r: Awaited<ReturnType<AntiEntropy['handle']>>): number => (r.type === 'AAE_SEGMENTS_REPLY' ? r.items.length : -1);
  assert.is(count(await restored.aae.handle(seg)), count(await aae.handle(seg)), 'the segment index is rebuilt from keys');

  const damaged = Buffer.from(saved);
  damaged[damaged.length - 3] = damaged[damaged.length - 3]! ^ 0xff;
  const logs2: string[] = [];
  const rebuilt = await node(backend, damaged, logs2);
  assert.ok(same(aae, rebuilt.aae), 'a damaged save is rebuilt, correctly');
  assert.is(logs2.length, 1);

  // Data changed after the save (e.g. restored from elsewhere): the key counts no longer match.
  const store = await replica.store(replica.partitionOf(Buffer.from('extra')));
  await store.put(Buffer.from('extra'), saved.subarray(0, 0));
  const logs3: string[] = [];
  await node(backend, saved, logs3);
  assert.is(logs3.length, 1, 'a save that does not match the data is not used');
});

test('a write\'s batched hash change is the XOR of the two versions\' item hashes (or null past the batch buffer)', () => {
  const shape = { leafBits: 4, fanoutBits: 2 };
  check(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 64 }),
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.integer({ min: 0, max: 8 }),
      (key, before, after, qBits) => {
        const c = itemHashChange(shape, qBits, key, before, after);
        const b = itemHash(shape, qBits, key, before);
        const a = itemHash(shape, qBits, key, after);
        assert.ok(c !== null);
        assert.is(c.segment, b.segment);
        assert.is(c.hi, (b.hi ^ a.hi) >>> 0);
        assert.is(c.lo, (b.lo ^ a.lo) >>> 0);
      },
    ),
    300,
  );
  const big = new Uint8Array(5000).fill(7);
  assert.is(itemHashChange(shape, 2, new Uint8Array([1]), big, new Uint8Array([2])), null);
});

test.run();

/**
 * The replica's byte-level shortcuts (a replica read sends the stored bytes,
 * a replica write may store the bytes it received, a coordinated write hands
 * back the bytes it stored) must leave exactly what the object-level path
 * would have stored: encodeObject of the merged object.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as D from '../../src/core/dvvset.js';
import { decodeObject, encodeObject } from '../../src/core/context_codec.js';
import { createMemoryBackend } from '../../src/storage/memory.js';
import { createLogBackend } from '../../src/storage/log.js';
import { Replica, tagValue, type Obj } from '../../src/node/replica.js';
import type { StorageBackend } from '../../src/storage/backend.js';
import { check } from '../helpers/seed.js';

const open = async (backend: StorageBackend): Promise<Replica> => {
  const replica = new Replica({ backend, replicaId: 'node-a', partitionBits: 2 });
  await replica.openAll([0, 1, 2, 3]);
  return replica;
};

const hex = (u: Uint8Array | undefined): string => (u === undefined ? 'absent' : Buffer.from(u).toString('hex'));

/** Clocks built the way replicas build them: writes coordinated by a few ids, some with the context of an earlier state. */
const arbClock = fc
  .array(fc.record({ id: fc.constantFrom('node-a', 'node-b', 'node-c'), byte: fc.integer({ min: 0, max: 255 }), seen: fc.boolean() }), { maxLength: 6 })
  .map((writes) => {
    let clock: Obj = D.empty;
    for (const w of writes) {
      const context = w.seen ? D.join(clock) : D.emptyContext;
      clock = D.update(D.newWithContext(context, tagValue(Uint8Array.of(w.byte))), w.id, clock);
    }
    return clock;
  });

for (const kind of ['memory', 'log'] as const) {
  const withReplica = async (body: (replica: Replica) => Promise<void>): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-replica-bytes-'));
    const backend = kind === 'memory' ? await createMemoryBackend() : await createLogBackend({ dir, autoMerge: false });
    const replica = await open(backend);
    try {
      await body(replica);
    } finally {
      await replica.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test(`${kind}: readStored is the encoding of read, and undefined for an absent key`, () =>
    withReplica(async (replica) => {
      const key = Buffer.from('k');
      assert.is(await replica.readStored(key), undefined);
      await replica.coordinate(key, D.newValue(tagValue(Buffer.from('v1'))));
      await replica.coordinate(key, D.newValue(tagValue(Buffer.from('v2'))));
      const obj = await replica.read(key);
      assert.is(hex(await replica.readStored(key)), hex(encodeObject(obj!)));
    }));

  test(`${kind}: coordinateStored resolves with the object and exactly the bytes it stored`, () =>
    withReplica(async (replica) => {
      const key = Buffer.from('k');
      await replica.coordinate(key, D.newValue(tagValue(Buffer.from('a'))));
      const s = await replica.coordinateStored(key, D.newValue(tagValue(Buffer.from('b'))));
      assert.is(hex(s.bytes), hex(encodeObject(s.object)));
      assert.is(hex(await replica.readStored(key)), hex(s.bytes));
      assert.is(D.size(s.object), 2, 'a blind write adds a sibling');
    }));

  test(`${kind}: a merge given the incoming bytes stores what a merge without them stores`, () =>
    withReplica(async (replica) => {
      let n = 0;
      // Anti-entropy's observer must see what was stored, whichever bytes were stored.
      const observed = new Map<string, string>();
      replica.observer = (_p, key, _before, after) => observed.set(hex(key), hex(after));
      await check(
        fc.asyncProperty(fc.option(arbClock, { nil: undefined }), arbClock, async (local, incoming) => {
          const withBytes = Buffer.from(`with:${n}`);
          const without = Buffer.from(`without:${n++}`);
          if (local !== undefined) {
            await replica.merge(withBytes, local);
            await replica.merge(without, local);
          }
          const a = await replica.merge(withBytes, incoming, encodeObject(incoming));
          const b = await replica.merge(without, incoming);
          assert.ok(D.equals(a, b, (x, y) => hex(x) === hex(y)));
          const stored = await replica.readStored(withBytes);
          assert.is(hex(stored), hex(await replica.readStored(without)));
          if (stored !== undefined) {
            const d = decodeObject(stored);
            assert.ok(d.ok);
            assert.is(hex(stored), hex(encodeObject(a)), 'the stored bytes are the merged object');
            assert.is(observed.get(hex(withBytes)), hex(stored), 'the observer saw the stored bytes');
          }
        }),
        kind === 'memory' ? 200 : 60,
      );
    }));
}

test.run();

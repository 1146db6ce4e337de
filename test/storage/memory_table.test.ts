import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MemoryTable } from '../../src/storage/memory_table.js';
import { check } from '../helpers/seed.js';

const fill = (n: number, byte: number): Buffer => Buffer.alloc(n, byte);

test('values survive overwrites, deletes and compactions; views of a pinned table never change', () => {
  const t = new MemoryTable();
  t.pin();
  const model = new Map<string, Buffer>();
  const held: { view: Buffer; copy: Buffer }[] = [];
  // 40 keys overwritten with 24 KiB values: megabytes of dead bytes, so several compactions.
  for (let round = 0; round < 60; round++) {
    for (let k = 0; k < 40; k++) {
      const id = `key${k}`;
      if ((round + k) % 7 === 0) {
        assert.is(t.delete(id), model.delete(id));
        continue;
      }
      const v = fill(((round * 40 + k) % 3) * 8192 + 1, (round + k) & 0xff);
      t.put(id, v);
      model.set(id, Buffer.from(v));
      v.fill(0xee); // the caller may reuse its buffer once put returns
      if (k === 3) {
        const view = t.get(id)!;
        held.push({ view, copy: Buffer.from(view) });
      }
    }
  }
  assert.is(t.size, model.size);
  for (const [id, v] of model) assert.ok(t.get(id)!.equals(v), id);
  for (const h of held) assert.ok(h.view.equals(h.copy), 'a view taken earlier still shows the bytes it showed then');
  assert.ok(t.lostBytes <= Math.max(t.liveBytes, 4 * 256 * 1024), `compaction keeps lost bytes bounded (${t.lostBytes} lost, ${t.liveBytes} live)`);
  const live = [...model].reduce((n, [id, v]) => n + id.length + v.length, 0);
  assert.is(t.liveBytes, live);
});

test('unpinned: values survive overwrites of changing sizes, deletes and compactions (spares dropped)', () => {
  const t = new MemoryTable();
  const model = new Map<string, Buffer>();
  let compactions = 0;
  for (let round = 0; round < 80; round++) {
    for (let k = 0; k < 40; k++) {
      const id = `key${k}`;
      if ((round + k) % 11 === 0) {
        assert.is(t.delete(id), model.delete(id));
        continue;
      }
      // Sizes change every few rounds: mostly same-size rewrites (spare reuse), sometimes growth or shrinkage.
      const v = fill((((round >> 2) + k) % 4) * 6000 + 1, (round + k) & 0xff);
      const lostBefore = t.lostBytes;
      t.put(id, v);
      if (t.lostBytes < lostBefore) compactions++;
      model.set(id, Buffer.from(v));
    }
    for (const [id, v] of model) assert.ok(t.get(id)!.equals(v), `${id} in round ${round}`);
  }
  assert.ok(compactions > 0, 'the run compacted');
  assert.ok(t.lostBytes <= Math.max(t.liveBytes, 4 * 256 * 1024));
});

test('unpinned, an overwrite reuses the spare region: no new slab memory, views last one write', () => {
  const t = new MemoryTable();
  const v = (byte: number): Buffer => fill(130, byte);
  for (let k = 0; k < 100; k++) t.put(`k${k}`, v(1));
  for (let k = 0; k < 100; k++) t.put(`k${k}`, v(2)); // appends: the first region becomes the spare
  const lost = t.lostBytes;
  const spare = t.spareBytes;
  for (let round = 3; round < 50; round++) {
    for (let k = 0; k < 100; k++) {
      const before = t.get(`k${k}`)!;
      const copy = Buffer.from(before);
      t.put(`k${k}`, v(round & 0xff));
      // What a read-modify-write relies on: the bytes it read are unchanged after its write.
      assert.ok(before.equals(copy), 'a view stays unchanged through the next write of its key');
      assert.ok(t.get(`k${k}`)!.equals(v(round & 0xff)));
    }
  }
  assert.is(t.lostBytes, lost, 'same-size overwrites lose no bytes');
  assert.is(t.spareBytes, spare, 'and hold no more spare bytes');
  // Pinned, writes append again and earlier views survive any number of writes.
  const view = t.get('k7')!;
  const copy = Buffer.from(view);
  t.pin();
  for (let i = 0; i < 5; i++) t.put('k7', v(100 + i));
  assert.ok(view.equals(copy), 'a pinned table never writes a region twice');
  assert.ok(t.lostBytes > lost, 'pinned writes append');
  t.unpin();
  assert.ok(t.get('k7')!.equals(v(104)));
});

test('agrees with a Map model on random puts and deletes of small, empty and large values', async () => {
  const op = fc.oneof(
    fc.record({ type: fc.constant('put' as const), key: fc.integer({ min: 0, max: 30 }), size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 30_000, max: 40_000 })), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ type: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 30 }) }),
  );
  await check(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const t = new MemoryTable();
      const model = new Map<string, Buffer>();
      for (const o of ops) {
        const id = `k${o.key}`;
        if (o.type === 'put') {
          const v = fill(o.size, o.byte);
          const before = t.get(id);
          const copy = before === undefined ? undefined : Buffer.from(before);
          t.put(id, v);
          model.set(id, v);
          if (before !== undefined) assert.ok(before.equals(copy!), 'the bytes before a write are unchanged after it');
        } else {
          assert.is(t.delete(id), model.delete(id));
        }
      }
      assert.is(t.size, model.size);
      for (const [id, v] of model) assert.ok(t.get(id)?.equals(v), id);
      assert.equal(new Set(t.index.keys()), new Set(model.keys()));
    }),
    200,
  );
});

test.run();

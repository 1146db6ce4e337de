import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MemoryTable } from '../../src/storage/memory_table.js';
import { check } from '../helpers/seed.js';

const fill = (n: number, byte: number): Buffer => Buffer.alloc(n, byte);

test('values survive overwrites, deletes and compactions; views handed out never change', () => {
  const t = new MemoryTable();
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
  assert.ok(t.deadBytes <= Math.max(t.liveBytes, 4 * 256 * 1024), `compaction keeps dead bytes bounded (${t.deadBytes} dead, ${t.liveBytes} live)`);
  const live = [...model].reduce((n, [id, v]) => n + id.length + v.length, 0);
  assert.is(t.liveBytes, live);
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
          t.put(id, v);
          model.set(id, v);
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

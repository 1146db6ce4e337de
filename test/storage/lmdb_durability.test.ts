// How the lmdb backend maps durability modes onto LMDB: `interval` forces a
// sync on a timer, `none` never does on its own, and every mode syncs on
// sync() and on close. Observed by counting calls to the env's sync.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Durability } from '../../src/storage/backend.js';
import { createLmdbBackend, type LmdbPartitionStore } from '../../src/storage/lmdb.js';
import { isKvError } from '../../src/errors.js';

const base = mkdtempSync(join(tmpdir(), 'ringkv-lmdb-durability-'));
process.on('exit', () => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** Opens partition 0 and counts the forced syncs its environment receives. */
const counted = async (durability: Durability, syncIntervalMs = 10) => {
  const backend = await createLmdbBackend({ dir: join(base, `d${n++}`), durability, syncIntervalMs });
  const store = (await backend.open(0)) as LmdbPartitionStore;
  const db = store.db as unknown as { sync(cb: (e?: unknown) => void): void };
  const original = db.sync.bind(db);
  const calls = { n: 0 };
  db.sync = (cb) => {
    calls.n++;
    original(cb);
  };
  return { backend, store, calls };
};

test('interval: the environment is synced on a timer, without being asked', async () => {
  const { backend, store, calls } = await counted('interval', 10);
  await store.put(Buffer.from('k'), Buffer.from('v'));
  // Waits for the behaviour, however slow the machine: no time limit asserted.
  for (let i = 0; i < 500 && calls.n < 2; i++) await sleep(10);
  assert.ok(calls.n >= 2, `only ${calls.n} periodic syncs`);
  await backend.close();
});

test('none: nothing is synced until sync() or close()', async () => {
  const { backend, store, calls } = await counted('none', 10);
  await store.put(Buffer.from('k'), Buffer.from('v'));
  await sleep(100);
  assert.is(calls.n, 0, 'durability none synced on its own');
  await store.sync();
  assert.is(calls.n, 1);
  await store.close();
  assert.is(calls.n, 2, 'close did not flush');
  await backend.close();
});

test('always: a resolved put needs no later sync, and close does not add one', async () => {
  const { backend, store, calls } = await counted('always');
  await store.put(Buffer.from('k'), Buffer.from('v'));
  await store.close();
  assert.is(calls.n, 0);
  await backend.close();
});

test('bad options are refused with KV_BAD_ARGUMENT', async () => {
  const bad = async (options: Parameters<typeof createLmdbBackend>[0]): Promise<void> => {
    try {
      await createLmdbBackend(options);
    } catch (e) {
      assert.ok(isKvError(e) && e.code === 'KV_BAD_ARGUMENT', String(e));
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(options)}`);
  };
  await bad({ dir: '' });
  await bad({ dir: join(base, 'x'), durability: 'sometimes' as Durability });
  await bad({ dir: join(base, 'x'), syncIntervalMs: 0 });
  await bad({ dir: join(base, 'x'), maxValueBytes: -1 });
});

test.run();

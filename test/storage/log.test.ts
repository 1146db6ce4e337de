import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogBackend, logSharedSyncStats, LogPartitionStore, type LogBackendOptions } from '../../src/storage/log.js';
import { nativeLog } from '../../src/native/addon.js';
import type { StorageBackend } from '../../src/storage/backend.js';
import { check } from '../helpers/seed.js';
import { rejectsWithCode, throwsWithCode } from '../helpers/assert.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ringkv-log-'));
  dirs.push(d);
  return d;
};
const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString());

const openStore = async (
  opts: Partial<LogBackendOptions> & { dir?: string } = {},
  partition = 0,
): Promise<{ backend: StorageBackend; store: LogPartitionStore; dir: string }> => {
  const dir = opts.dir ?? tempDir();
  const backend = await createLogBackend({ autoMerge: false, ...opts, dir });
  const store = (await backend.open(partition)) as LogPartitionStore;
  return { backend, store, dir };
};

const rejectsWith = rejectsWithCode;
const throwsCode = throwsWithCode;

const dataFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.data')).sort();

test('put, get, getSync, delete and batch round-trip', async () => {
  const { backend, store } = await openStore();
  await store.put(b('a'), b('1'));
  await store.put(b('b'), b('2'));
  await store.put(b('a'), b('3'));
  assert.is(str(await store.get(b('a'))), '3');
  assert.is(str(store.getSync(b('b'))), '2');
  assert.is(await store.get(b('missing')), undefined);
  await store.delete(b('b'));
  await store.delete(b('never-there'));
  assert.is(store.getSync(b('b')), undefined);
  await store.batch([
    { type: 'put', key: b('x'), value: b('xx') },
    { type: 'put', key: b('y'), value: new Uint8Array(0) },
    { type: 'delete', key: b('a') },
    { type: 'put', key: new Uint8Array(0), value: b('empty key') },
  ]);
  await store.batch([]);
  assert.is(str(store.getSync(b('x'))), 'xx');
  assert.is(store.getSync(b('y'))?.length, 0);
  assert.is(store.getSync(b('a')), undefined);
  assert.is(str(store.getSync(new Uint8Array(0))), 'empty key');
  assert.is(store.count(), 3);
  await backend.close();
});

test('getInto copies into the caller buffer and reports lengths', async () => {
  const { backend, store } = await openStore();
  await store.put(b('k'), b('hello'));
  await store.put(b('big'), Buffer.alloc(100, 7));
  const out = Buffer.alloc(16);
  assert.is(store.getInto(b('k'), out), 5);
  assert.is(out.subarray(0, 5).toString(), 'hello');
  assert.is(store.getInto(b('nope'), out), -1);
  assert.is(store.getInto(b('big'), out), 100); // too small: length only
  assert.is(store.getSync(b('big'))?.length, 100); // getSync still works after getInto switched buffers
  const large = Buffer.alloc(200 * 1024, 3);
  await store.put(b('large'), large);
  assert.ok(Buffer.from(store.getSync(b('large'))!).equals(large));
  await backend.close();
});

test('fold visits every live key once; keysOnly skips values; false stops early', async () => {
  const { backend, store } = await openStore();
  const model = new Map<string, string>();
  for (let i = 0; i < 500; i++) {
    const k = `k${i}`;
    const v = `v${i}`.repeat(1 + (i % 7));
    await store.put(b(k), b(v));
    model.set(k, v);
  }
  for (let i = 0; i < 500; i += 3) {
    await store.delete(b(`k${i}`));
    model.delete(`k${i}`);
  }
  const seen = new Map<string, string>();
  const n = await store.fold((k, v) => {
    seen.set(Buffer.from(k).toString(), Buffer.from(v).toString());
  });
  assert.is(n, model.size);
  assert.equal(seen, model);
  let empties = 0;
  await store.fold((_k, v) => void (empties += v.length === 0 ? 1 : 0), { keysOnly: true });
  assert.is(empties, model.size);
  assert.is(await store.fold(() => false), 1);
  await backend.close();
});

test('fold sees the snapshot taken at its start, not later writes', async () => {
  const { backend, store } = await openStore();
  for (let i = 0; i < 3000; i++) await store.put(b(`k${i}`), Buffer.alloc(600, i % 251));
  let visited = 0;
  const writes: Promise<void>[] = [];
  const n = await store.fold((k, v) => {
    const i = Number(Buffer.from(k).toString().slice(1));
    assert.ok(v.every((x) => x === i % 251), 'value from the snapshot');
    if (visited++ === 0) {
      for (let j = 0; j < 3000; j++) writes.push(store.put(b(`k${j}`), Buffer.alloc(600, 255)));
      writes.push(store.put(b('new'), b('x')));
    }
  });
  await Promise.all(writes);
  assert.is(n, 3000);
  assert.is(store.count(), 3001);
  await backend.close();
});

test('the keydir shrinks its arena after mass deletes and still finds every key', async () => {
  const { backend, store } = await openStore();
  const key = (i: number): Buffer => b(`key-${String(i).padStart(8, '0')}-${'x'.repeat(i % 40)}`);
  for (let i = 0; i < 60_000; i += 1000) {
    await store.batch(Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: b(`v${i + j}`) })));
  }
  const full = store.stats().extra?.keydirBytes ?? 0;
  for (let i = 0; i < 60_000; i += 1000) {
    await store.batch(
      Array.from({ length: 1000 }, (_, j) => i + j)
        .filter((n) => n % 10 !== 0)
        .map((n) => ({ type: 'delete' as const, key: key(n) })),
    );
  }
  const after = store.stats().extra?.keydirBytes ?? 0;
  assert.ok(after < full, `keydir ${full} -> ${after} bytes`);
  assert.is(store.count(), 6000);
  for (let n = 0; n < 60_000; n++) {
    const v = store.getSync(key(n));
    if (n % 10 === 0) assert.is(str(v), `v${n}`);
    else assert.is(v, undefined);
  }
  await backend.close();
});

test('stats count keys, live and dead bytes exactly', async () => {
  const { backend, store } = await openStore();
  await store.put(b('k1'), b('aaaa')); // 19 + 2 + 4 = 25
  await store.put(b('k2'), b('bb')); // 23
  let s = store.stats();
  assert.is(s.keys, 2);
  assert.is(s.liveBytes, 48);
  assert.is(s.deadBytes, 0);
  await store.put(b('k1'), b('c')); // old 25 dead, new 22 live
  await store.delete(b('k2')); // 23 dead + tombstone 21 dead
  s = store.stats();
  assert.is(s.keys, 1);
  assert.is(s.liveBytes, 22);
  assert.is(s.deadBytes, 25 + 23 + 21);
  assert.is(s.extra?.files, 1);
  assert.ok((s.extra?.keydirBytes ?? 0) > 0);
  await backend.close();
});

test('close: later calls fail with KV_CLOSED; close twice is fine; reopen sees the data', async () => {
  const { backend, store, dir } = await openStore({ durability: 'none' });
  await store.put(b('k'), b('v'));
  await store.close();
  await store.close();
  await rejectsWith(store.put(b('k'), b('v')), 'KV_CLOSED');
  await rejectsWith(store.get(b('k')), 'KV_CLOSED');
  await rejectsWith(store.delete(b('k')), 'KV_CLOSED');
  await rejectsWith(store.batch([]), 'KV_CLOSED');
  await rejectsWith(store.sync(), 'KV_CLOSED');
  await rejectsWith(store.merge(), 'KV_CLOSED');
  throwsCode(() => store.getSync(b('k')), 'KV_CLOSED');
  throwsCode(() => store.stats(), 'KV_CLOSED');
  throwsCode(() => store.count(), 'KV_CLOSED');
  const again = (await backend.open(0)) as LogPartitionStore;
  assert.is.not(again, store);
  assert.is(str(again.getSync(b('k'))), 'v');
  assert.is(again.stats().extra?.recoveredRecords, 1);
  await backend.close();
  await rejectsWith(backend.open(0), 'KV_CLOSED');
  const other = await createLogBackend({ dir });
  assert.is(str((await other.open(0)).getSync!(b('k'))), 'v');
  await other.close();
});

test('a partition open in one backend is refused by another (KV_IO_ERROR) until closed', async () => {
  const dir = tempDir();
  const first = await createLogBackend({ dir, autoMerge: false });
  const second = await createLogBackend({ dir, autoMerge: false });
  await (await first.open(3)).put(b('k'), b('v'));
  await rejectsWith(second.open(3), 'KV_IO_ERROR');
  await first.close();
  assert.is(str((await second.open(3)).getSync!(b('k'))), 'v');
  await second.close();
});

test('open returns the same store; partitions lists the ones with data; drop deletes them', async () => {
  const dir = tempDir();
  const backend = await createLogBackend({ dir, autoMerge: false });
  const p1 = await backend.open(1);
  assert.is(await backend.open(1), p1);
  await p1.put(b('k'), b('v'));
  const p7 = await backend.open(7);
  await p7.put(b('k'), b('v'));
  await backend.open(9); // empty
  assert.equal(await backend.partitions(), [1, 7]);
  await backend.drop(7);
  assert.equal(await backend.partitions(), [1]);
  assert.not.ok(existsSync(join(dir, 'p7')));
  await rejectsWith(p7.put(b('k'), b('v')), 'KV_CLOSED');
  const p7b = await backend.open(7);
  assert.is(p7b.count(), 0);
  await backend.drop(12345); // never opened: no-op
  await backend.close();
});

test('rotation spreads records over many files; reopen uses hint files and finds every value', async () => {
  const { backend, store, dir } = await openStore({ maxFileBytes: 4096 });
  const model = new Map<string, Buffer>();
  for (let i = 0; i < 2000; i++) {
    const v = Buffer.alloc(20 + (i % 50), i % 256);
    await store.put(b(`key-${i % 1500}`), v);
    model.set(`key-${i % 1500}`, v);
  }
  await store.batch(Array.from({ length: 300 }, (_, i) => ({ type: 'delete' as const, key: b(`key-${i}`) })));
  for (let i = 0; i < 300; i++) model.delete(`key-${i}`);
  const files = store.stats().extra?.files ?? 0;
  assert.ok(files > 20, `files: ${files}`);
  await backend.close();
  const pdir = join(dir, 'p0');
  const hints = readdirSync(pdir).filter((f) => f.endsWith('.hint'));
  assert.is(hints.length, dataFiles(pdir).length, 'every file has a hint after a clean close');
  const again = await createLogBackend({ dir, autoMerge: false });
  const s = (await again.open(0)) as LogPartitionStore;
  assert.is(s.stats().extra?.hintFilesLoaded, files);
  assert.is(s.count(), model.size);
  for (const [k, v] of model) assert.ok(Buffer.from(s.getSync(b(k))!).equals(v), k);
  for (let i = 0; i < 300; i++) assert.is(s.getSync(b(`key-${i}`)), undefined);
  await again.close();
});

test('a corrupted or missing hint falls back to scanning its data file', async () => {
  const { backend, store, dir } = await openStore({ maxFileBytes: 4096 });
  for (let i = 0; i < 600; i++) await store.put(b(`k${i}`), Buffer.alloc(40, i % 256));
  for (let i = 0; i < 600; i += 5) await store.delete(b(`k${i}`));
  await backend.close();
  const pdir = join(dir, 'p0');
  const hints = readdirSync(pdir).filter((f) => f.endsWith('.hint')).sort();
  assert.ok(hints.length >= 3);
  // Flip one byte in the middle of the first hint, truncate the second, delete the third.
  const h0 = join(pdir, hints[0]!);
  const bytes = readFileSync(h0);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x10;
  writeFileSync(h0, bytes);
  writeFileSync(join(pdir, hints[1]!), readFileSync(join(pdir, hints[1]!)).subarray(0, 30));
  rmSync(join(pdir, hints[2]!));
  const again = await createLogBackend({ dir, autoMerge: false });
  const s = (await again.open(0)) as LogPartitionStore;
  assert.is(s.stats().extra?.hintFilesLoaded, hints.length - 3);
  assert.is(s.stats().extra?.droppedRecords, 0);
  for (let i = 0; i < 600; i++) {
    const v = s.getSync(b(`k${i}`));
    if (i % 5 === 0) assert.is(v, undefined);
    else assert.ok(Buffer.from(v!).equals(Buffer.alloc(40, i % 256)));
  }
  await again.close();
});

test('merge keeps the newest values, drops dead records and reclaims space', async () => {
  const { backend, store, dir } = await openStore({ maxFileBytes: 8192 });
  const model = new Map<string, Buffer>();
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < 200; i++) {
      const v = Buffer.from(`r${round}-i${i}-`.repeat(3));
      await store.put(b(`k${i}`), v);
      model.set(`k${i}`, v);
    }
  }
  for (let i = 0; i < 50; i++) {
    await store.delete(b(`k${i}`));
    model.delete(`k${i}`);
  }
  const before = store.stats();
  assert.ok(store.mergeCandidates() > 0);
  const merged = await store.merge();
  assert.ok(merged > 0);
  const after = store.stats();
  assert.is(after.extra?.merges, 1);
  assert.is(after.keys, model.size);
  assert.is(after.liveBytes, before.liveBytes);
  assert.ok(after.deadBytes < before.deadBytes / 2, `dead ${before.deadBytes} -> ${after.deadBytes}`);
  assert.ok((after.extra?.files ?? 0) < (before.extra?.files ?? 0));
  for (const [k, v] of model) assert.ok(Buffer.from(store.getSync(b(k))!).equals(v), k);
  for (let i = 0; i < 50; i++) assert.is(store.getSync(b(`k${i}`)), undefined);
  await backend.close();
  const again = await createLogBackend({ dir, autoMerge: false });
  const s = (await again.open(0)) as LogPartitionStore;
  assert.is(s.count(), model.size);
  for (const [k, v] of model) assert.ok(Buffer.from(s.getSync(b(k))!).equals(v), k);
  for (let i = 0; i < 50; i++) assert.is(s.getSync(b(`k${i}`)), undefined);
  await again.close();
});

test('merge while writes continue: later writes win, nothing is lost', async () => {
  const { backend, store, dir } = await openStore({ maxFileBytes: 8192 });
  const model = new Map<string, string>();
  const put = (k: string, v: string): Promise<void> => {
    model.set(k, v);
    return store.put(b(k), b(v));
  };
  for (let round = 0; round < 5; round++) for (let i = 0; i < 300; i++) await put(`k${i}`, `v${round}-${i}`);
  const merging = store.merge(true);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 300; i += 2) writes.push(put(`k${i}`, `during-${i}`));
  for (let i = 1; i < 300; i += 6) {
    model.delete(`k${i}`);
    writes.push(store.delete(b(`k${i}`)));
  }
  await Promise.all(writes);
  assert.ok((await merging) > 0);
  for (let i = 0; i < 300; i++) assert.is(str(store.getSync(b(`k${i}`))), model.get(`k${i}`), `k${i}`);
  await backend.close();
  const again = await createLogBackend({ dir, autoMerge: false });
  const s = (await again.open(0)) as LogPartitionStore;
  for (let i = 0; i < 300; i++) assert.is(str(s.getSync(b(`k${i}`))), model.get(`k${i}`), `k${i} after reopen`);
  await again.close();
});

test('a merge that completes in the middle of a fold does not disturb it', async () => {
  const dir = tempDir();
  const h = await nativeLog.logOpen(dir, 16384, 0, 1000, 0.5, () => {});
  for (let i = 0; i < 2000; i++) nativeLog.logPut(h, b(`k${i}`), Buffer.alloc(100, i % 256));
  for (let i = 0; i < 2000; i += 2) nativeLog.logPut(h, b(`k${i}`), Buffer.alloc(100, (i + 1) % 256));
  const f = nativeLog.logFoldOpen(h, false);
  const buf = Buffer.alloc(8192);
  const seen = new Map<string, Buffer>();
  const readChunk = (): number => {
    const n = nativeLog.logFoldNext(f, buf);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const kl = buf.readUInt32LE(at);
      const vl = buf.readUInt32LE(at + 4);
      seen.set(buf.subarray(at + 8, at + 8 + kl).toString(), Buffer.from(buf.subarray(at + 8 + kl, at + 8 + kl + vl)));
      at += 8 + kl + vl;
    }
    return n;
  };
  assert.ok(readChunk() > 0);
  const filesBefore = nativeLog.logStats(h).files;
  assert.ok((await nativeLog.logMerge(h, true)) > 0, 'merged');
  for (let i = 0; i < 2000; i++) nativeLog.logPut(h, b(`k${i}`), b('after'));
  assert.ok(nativeLog.logStats(h).files < filesBefore + 5);
  while (readChunk() > 0);
  nativeLog.logFoldClose(f);
  assert.is(seen.size, 2000);
  for (let i = 0; i < 2000; i++) {
    const want = Buffer.alloc(100, (i % 2 === 0 ? i + 1 : i) % 256);
    assert.ok(seen.get(`k${i}`)?.equals(want), `k${i}`);
  }
  await nativeLog.logClose(h);
});

test('a tombstone survives a merge while an older file still holds the key', async () => {
  const { backend, store, dir } = await openStore({ maxFileBytes: 4096, mergeThreshold: 0.5 });
  const pdir = join(dir, 'p0');
  // File A: the victim plus keys that stay live, so A is never a candidate.
  await store.put(b('victim'), b('old value'));
  for (let i = 0; i < 50; i++) await store.put(b(`live${i}`), Buffer.alloc(40, 1));
  // File B: a big record (it forces the rotation) and the victim's tombstone.
  await store.put(b('pad'), Buffer.alloc(3900, 2));
  await store.delete(b('victim'));
  const [fileA, fileB] = dataFiles(pdir);
  assert.ok(readFileSync(join(pdir, fileB!)).includes(b('victim')), 'the tombstone is in B');
  // Later files; overwriting pad makes B all dead apart from the tombstone.
  for (let i = 0; i < 60; i++) await store.put(b(`later${i}`), Buffer.alloc(40, 3));
  await store.put(b('pad'), b('small'));
  assert.ok((await store.merge()) > 0, 'some files merged');
  const after = dataFiles(pdir);
  assert.ok(after.includes(fileA!), 'A was not merged');
  assert.not.ok(after.includes(fileB!), 'B was merged');
  assert.is(store.getSync(b('victim')), undefined);
  assert.is(store.mergeCandidates(), 0, 'a kept tombstone does not make its file a candidate again');
  await backend.close();
  assert.ok(readFileSync(join(pdir, fileA!)).includes(b('old value')), 'A still holds the old value');
  const again = await createLogBackend({ dir, autoMerge: false });
  const s = (await again.open(0)) as LogPartitionStore;
  assert.is(s.getSync(b('victim')), undefined, 'victim stays deleted after reopen');
  assert.is(s.count(), 50 + 1 + 60);
  assert.is(s.mergeCandidates(), 0, 'nor after reopen');
  // Without hints (a full scan) the answer is the same.
  await again.close();
  for (const f of readdirSync(pdir).filter((f) => f.endsWith('.hint'))) rmSync(join(pdir, f));
  const third = await createLogBackend({ dir, autoMerge: false });
  assert.is((await third.open(0)).getSync!(b('victim')), undefined, 'victim stays deleted after a scan');
  await third.close();
});

test('autoMerge merges files past the threshold in the background', async () => {
  const { backend, store } = await openStore({ maxFileBytes: 4096, autoMerge: true, mergeCheckIntervalMs: 5 });
  for (let round = 0; round < 6; round++) for (let i = 0; i < 40; i++) await store.put(b(`k${i}`), Buffer.alloc(50, round));
  for (let tries = 0; tries < 400 && (store.stats().extra?.merges ?? 0) === 0; tries++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok((store.stats().extra?.merges ?? 0) > 0, 'a merge ran');
  for (let i = 0; i < 40; i++) assert.ok(Buffer.from(store.getSync(b(`k${i}`))!).equals(Buffer.alloc(50, 5)));
  await backend.close();
});

test('a delete then re-put survives a merge of the tombstone file and reopen', async () => {
  const { backend, store, dir } = await openStore({ maxFileBytes: 4096 });
  await store.put(b('k'), b('one'));
  for (let i = 0; i < 60; i++) await store.put(b(`live${i}`), Buffer.alloc(40, 1));
  await store.delete(b('k'));
  for (let i = 0; i < 100; i++) await store.put(b(`churn${i % 20}`), Buffer.alloc(40, i));
  await store.put(b('k'), b('two'));
  for (let i = 0; i < 100; i++) await store.put(b(`churn${i % 20}`), Buffer.alloc(40, i));
  await store.merge();
  assert.is(str(store.getSync(b('k'))), 'two');
  await backend.close();
  const again = await createLogBackend({ dir, autoMerge: false });
  assert.is(str((await again.open(0)).getSync!(b('k'))), 'two');
  await again.close();
});

test('durability always: concurrent writes all resolve and survive reopen; sync resolves in every mode', async () => {
  for (const durability of ['none', 'interval', 'always'] as const) {
    const { backend, store, dir } = await openStore({ durability, syncIntervalMs: 5 });
    assert.is(store.durability, durability);
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.put(b(`k${i}`), b(`v${i}`))));
    await store.batch([{ type: 'put', key: b('batch'), value: b('b') }]);
    await store.delete(b('k0'));
    await store.sync();
    await store.sync(); // nothing new to sync: resolves at once
    await backend.close();
    const again = await createLogBackend({ dir });
    const s = await again.open(0);
    assert.is(s.count(), 64);
    assert.is(str(s.getSync!(b('k63'))), 'v63');
    await again.close();
  }
});

test('durability interval: the partitions of a process share one syncfs per round, and every write gets synced', async () => {
  const partitions = 16;
  const backend = await createLogBackend({ dir: tempDir(), autoMerge: false, durability: 'interval', syncIntervalMs: 25 });
  try {
    const stores = (await Promise.all(Array.from({ length: partitions }, (_, p) => backend.open(p)))) as LogPartitionStore[];
    const before = logSharedSyncStats();
    for (let round = 0; round < 3; round++) {
      for (const [p, store] of stores.entries()) await store.put(b(`k${p}.${round}`), b('v'));
      // Every partition's last write is reported synced by a periodic round, unasked.
      const deadline = Date.now() + 20_000;
      const pending = (): LogPartitionStore[] =>
        stores.filter((s) => {
          const x = s.stats().extra as { writeSeq: number; syncedSeq: number };
          return x.syncedSeq < x.writeSeq;
        });
      while (pending().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.is(pending().length, 0, `round ${round}: partitions with unsynced writes`);
    }
    const after = logSharedSyncStats();
    const storeSyncs = after.storeSyncs - before.storeSyncs;
    const syncfsCalls = after.syncfsCalls - before.syncfsCalls;
    assert.ok(storeSyncs >= partitions * 3, `every partition synced each round (${storeSyncs})`);
    // Shared: far fewer syncfs calls than partitions synced (one per filesystem per round).
    assert.ok(syncfsCalls * 4 <= storeSyncs, `${syncfsCalls} syncfs calls for ${storeSyncs} partition syncs`);
    assert.is(after.errors - before.errors, 0);
  } finally {
    await backend.close();
  }
});

test('durability interval: sync() after a silent periodic fdatasync still resolves', async () => {
  const { backend, store } = await openStore({ durability: 'interval', syncIntervalMs: 1 });
  for (let round = 0; round < 20; round++) {
    await store.put(b(`k${round}`), b('v'));
    await new Promise((r) => setTimeout(r, 3)); // a periodic round covers the write, unasked
    // Liveness bound only: a sync that never resolves is the bug this guards against.
    const outcome = await Promise.race([
      store.sync().then(() => 'synced'),
      new Promise((r) => setTimeout(() => r('stuck'), 10_000).unref()),
    ]);
    assert.is(outcome, 'synced', `round ${round}`);
  }
  await backend.close();
});

test('error codes: KV_TOO_LARGE for oversized keys and values, KV_CORRUPTION for a rotten record', async () => {
  const { backend, store, dir } = await openStore();
  await rejectsWith(store.put(Buffer.alloc(65536), b('v')), 'KV_TOO_LARGE');
  await rejectsWith(store.put(b('k'), Buffer.alloc(64 * 1024 * 1024 + 1)), 'KV_TOO_LARGE');
  await rejectsWith(store.batch([{ type: 'put', key: Buffer.alloc(70000), value: b('v') }]), 'KV_TOO_LARGE');
  throwsCode(() => store.getSync(Buffer.alloc(65536)), 'KV_TOO_LARGE');
  await store.put(b('good'), b('fine'));
  await store.put(b('rot'), b('this value will rot'));
  // Damage the record on disk while the partition is open: reads must refuse it.
  const file = join(dir, 'p0', dataFiles(join(dir, 'p0'))[0]!);
  const bytes = readFileSync(file);
  const at = bytes.indexOf(b('will rot'));
  bytes[at] = bytes[at]! ^ 1;
  writeFileSync(file, bytes);
  throwsCode(() => store.getSync(b('rot')), 'KV_CORRUPTION');
  await rejectsWith(store.get(b('rot')), 'KV_CORRUPTION');
  assert.is(str(store.getSync(b('good'))), 'fine');
  await rejectsWith(store.fold(() => {}), 'KV_CORRUPTION');
  assert.is(await store.fold(() => {}, { keysOnly: true }), 2);
  await backend.close();
});

test('bad arguments are TypeErrors, in TypeScript and in the addon itself', async () => {
  const { backend, store } = await openStore();
  const bad = 'x' as unknown as Uint8Array;
  await assert.throws(() => store.getSync(bad), TypeError);
  await store.put(bad, b('v')).then(
    () => assert.unreachable(),
    (e: unknown) => assert.instance(e, TypeError),
  );
  await store.put(b('k'), 5 as unknown as Uint8Array).then(
    () => assert.unreachable(),
    (e: unknown) => assert.instance(e, TypeError),
  );
  for (const ops of [null, [{ type: 'nope', key: b('k') }], [{ type: 'put', key: b('k') }], [7]]) {
    await store.batch(ops as never).then(
      () => assert.unreachable(),
      (e: unknown) => assert.instance(e, TypeError),
    );
  }
  await store.fold(null as never).then(
    () => assert.unreachable(),
    (e: unknown) => assert.instance(e, TypeError),
  );
  await backend.open(-1).then(
    () => assert.unreachable(),
    (e: unknown) => assert.instance(e, TypeError),
  );
  const badOptions = [
    { dir: 5 },
    { dir: tempDir(), durability: 'sometimes' },
    { dir: tempDir(), durability: 'toString' },
    { dir: tempDir(), maxFileBytes: 10 },
    { dir: tempDir(), mergeThreshold: 2 },
    { dir: tempDir(), autoMerge: 'yes' },
    { dir: tempDir(), syncIntervalMs: 0 },
  ];
  for (const opts of badOptions) {
    await createLogBackend(opts as never).then(
      () => assert.unreachable(),
      (e: unknown) => assert.instance(e, TypeError),
    );
  }
  // Direct calls with garbage never crash.
  const n = nativeLog as unknown as Record<string, (...a: unknown[]) => unknown>;
  assert.throws(() => n.logPut!({}, b('k'), b('v')), TypeError);
  assert.throws(() => n.logGet!(undefined, b('k')), TypeError);
  assert.throws(() => n.logOpen!(5, 1, 1, 1, 0.5, () => {}), TypeError);
  assert.throws(() => n.logOpen!(tempDir(), 1, 7, 1, 0.5, () => {}), RangeError);
  assert.throws(() => n.logFoldNext!(null, b('x')), TypeError);
  const h = await nativeLog.logOpen(tempDir(), 4096, 0, 1000, 0.5, () => {});
  assert.throws(() => n.logGet!(h, 'k'), TypeError);
  assert.throws(() => n.logGetFast!(h, 'k'), TypeError);
  assert.throws(() => n.logGetFast!(h, 1), RangeError, 'no key buffer registered yet');
  nativeLog.logSetKeyBuffer(h, Buffer.from('abc'));
  assert.is(nativeLog.logGetFast(h, 3), -1);
  assert.throws(() => n.logGetFast!(h, 4), RangeError, 'longer than the key buffer');
  assert.throws(() => n.logFoldNext!(h, b('x')), TypeError, 'a store handle is not a fold handle');
  const f = nativeLog.logFoldOpen(h, true);
  assert.throws(() => n.logGet!(f, b('k')), TypeError, 'a fold handle is not a store handle');
  nativeLog.logFoldClose(f);
  // A malformed batch buffer is refused whole.
  const junk = Buffer.alloc(30);
  junk.writeUInt16LE(200, 13);
  try {
    nativeLog.logBatch(h, junk);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code?: string }).code, 'KV_BAD_ARGUMENT');
  }
  assert.is(nativeLog.logCount(h), 0);
  await nativeLog.logClose(h);
  try {
    nativeLog.logPut(h, b('k'), b('v'));
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code?: string }).code, 'KV_CLOSED');
  }
  await backend.close();
});

test('random operations with reopens and merges agree with a Map', async () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('put' as const), k: fc.integer({ min: 0, max: 30 }), v: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ t: fc.constant('del' as const), k: fc.integer({ min: 0, max: 30 }) }),
    fc.record({ t: fc.constant('reopen' as const), withoutHints: fc.boolean() }),
    fc.record({ t: fc.constant('merge' as const) }),
  );
  await check(
    fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
      const dir = tempDir();
      let backend = await createLogBackend({ dir, maxFileBytes: 4096, autoMerge: false });
      let store = (await backend.open(0)) as LogPartitionStore;
      const model = new Map<string, Buffer>();
      for (const o of ops) {
        if (o.t === 'put') {
          model.set(`k${o.k}`, Buffer.from(o.v));
          await store.put(b(`k${o.k}`), o.v);
        } else if (o.t === 'del') {
          model.delete(`k${o.k}`);
          await store.delete(b(`k${o.k}`));
        } else if (o.t === 'merge') {
          await store.merge(true);
        } else {
          await backend.close();
          if (o.withoutHints) {
            const pdir = join(dir, 'p0');
            for (const f of readdirSync(pdir).filter((f) => f.endsWith('.hint'))) rmSync(join(pdir, f));
          }
          backend = await createLogBackend({ dir, maxFileBytes: 4096, autoMerge: false });
          store = (await backend.open(0)) as LogPartitionStore;
        }
      }
      assert.is(store.count(), model.size);
      for (let k = 0; k <= 30; k++) {
        const got = store.getSync(b(`k${k}`));
        const want = model.get(`k${k}`);
        if (want === undefined) assert.is(got, undefined);
        else assert.ok(got !== undefined && Buffer.from(got).equals(want));
      }
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }),
    25,
  );
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.run();

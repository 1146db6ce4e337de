import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogBackend, type LogPartitionStore } from '../../src/storage/log.js';
import { KvError } from '../../src/errors.js';
import fc from 'fast-check';
import { check, runSeed } from '../helpers/seed.js';
import { crashValue } from '../fixtures/log_crash_value.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const writer = join(root, 'test', 'fixtures', 'log_crash_writer.ts');
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ringkv-crash-'));
  dirs.push(d);
  return d;
};
const b = (s: string): Buffer => Buffer.from(s);

// Deterministic from the run's seed, so a failing schedule can be replayed.
const rng = (seed: number): (() => number) => {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
};

const open = async (dir: string): Promise<{ close: () => Promise<void>; store: LogPartitionStore }> => {
  const backend = await createLogBackend({ dir, autoMerge: false });
  const store = (await backend.open(0)) as LogPartitionStore;
  return { store, close: () => backend.close() };
};

/** Runs the writer until `killAfterMs` past its "ready", SIGKILLs it, returns the acknowledged keys. */
const runAndKill = (dir: string, prefix: string, killAfterMs: number): Promise<string[]> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir, prefix], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (timer === undefined && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer ended without being killed: ${err}`));
      const acked = out
        .split('\n')
        .filter((l) => l.startsWith('ack '))
        .map((l) => l.slice(4));
      resolve(acked);
    });
  });

test('SIGKILL at random moments: every acknowledged write survives with its exact value', async () => {
  const dir = tempDir();
  const random = rng(runSeed());
  const acked: string[] = [];
  let lastStats: Record<string, number> | undefined;
  let merged = false;
  for (let iteration = 0; iteration < 20; iteration++) {
    const killAfterMs = Math.floor(random() * 250);
    acked.push(...(await runAndKill(dir, `i${iteration}`, killAfterMs)));
    const { store, close } = await open(dir);
    for (const k of acked) {
      const v = store.getSync(b(k));
      assert.ok(v !== undefined, `acknowledged ${k} is missing after crash ${iteration}`);
      assert.ok(Buffer.from(v).equals(crashValue(k)), `acknowledged ${k} has a wrong value`);
    }
    // No garbled value anywhere, acknowledged or not.
    await store.fold((k, v) => {
      const key = Buffer.from(k).toString();
      assert.ok(Buffer.from(v).equals(crashValue(key)), `garbled value under ${key}`);
    });
    lastStats = store.stats().extra as Record<string, number>;
    // Merge output ranks sit between rotation ranks (see log_format.h).
    merged ||= readdirSync(join(dir, 'p0')).some((f) => f.endsWith('.data') && !f.endsWith('00000.data'));
    await close();
  }
  assert.ok(acked.length > 100, `only ${acked.length} writes acknowledged`);
  assert.ok((lastStats?.files ?? 0) > 3, 'writes spread over several files');
  assert.ok(merged, 'some writer merged files before it was killed');
});

/** The value stored under `key` by writeRecords: short ones keep the every-offset loops small. */
const shortValue = (key: string): Buffer => crashValue(key).subarray(0, 48);

/** Writes `n` records into one fresh partition; returns its data file and each record's [start, end). */
const writeRecords = async (n: number): Promise<{ dir: string; file: string; spans: [number, number][]; keys: string[] }> => {
  const dir = tempDir();
  const { store, close } = await open(dir);
  const keys = Array.from({ length: n }, (_, i) => `key-${i}`);
  const spans: [number, number][] = [];
  let at = 0;
  for (const k of keys) {
    await store.put(b(k), shortValue(k));
    const size = 19 + k.length + shortValue(k).length;
    spans.push([at, at + size]);
    at += size;
  }
  await close();
  const pdir = join(dir, 'p0');
  // Without its hint the file is scanned on open, which is the path under test.
  for (const f of readdirSync(pdir).filter((f) => f.endsWith('.hint'))) rmSync(join(pdir, f));
  const files = readdirSync(pdir).filter((f) => f.endsWith('.data'));
  assert.is(files.length, 1);
  const file = join(pdir, files[0]!);
  assert.is(readFileSync(file).length, at);
  return { dir, file, spans, keys };
};

test('torn tail: truncating the last record at every offset keeps every earlier record', async () => {
  const { dir, file, spans, keys } = await writeRecords(12);
  const original = readFileSync(file);
  const [start, end] = spans[spans.length - 1]!;
  for (let cut = start; cut < end; cut++) {
    writeFileSync(file, original.subarray(0, cut));
    const { store, close } = await open(dir);
    for (let i = 0; i < keys.length - 1; i++) {
      assert.ok(Buffer.from(store.getSync(b(keys[i]!))!).equals(shortValue(keys[i]!)), `cut ${cut}: ${keys[i]}`);
    }
    assert.is(store.getSync(b(keys[keys.length - 1]!)), undefined, `cut ${cut}: the torn record is not returned`);
    const extra = store.stats().extra!;
    assert.is(extra.truncatedBytes, cut - start);
    assert.is(extra.droppedRecords, cut > start ? 1 : 0);
    // The file was cut back to a clean end: appends continue and reload.
    if (cut % 16 === 0) {
      await store.put(b('after'), b('tear'));
      await close();
      const again = await open(dir);
      assert.is(Buffer.from(again.store.getSync(b('after'))!).toString(), 'tear');
      assert.is(again.store.count(), keys.length);
      await again.close();
    } else {
      await close();
    }
  }
  writeFileSync(file, original);
});

test('flipped bits: the damaged record is dropped and counted, the others survive', async () => {
  const { dir, file, spans, keys } = await writeRecords(20);
  const original = readFileSync(file);
  const random = rng(runSeed() ^ 0x5eed);
  for (const victim of [0, 1, 10, 18, 19]) {
    const [start, end] = spans[victim]!;
    // Every header field, the key, and a few value bytes.
    const positions = [0, 3, 4, 5, 12, 13, 14, 15, 18, 19, 20, end - start - 1];
    for (let i = 0; i < 2; i++) positions.push(19 + Math.floor(random() * (end - start - 19)));
    for (const pos of positions) {
      const bit = Math.floor(random() * 8);
      const damaged = Buffer.from(original);
      damaged[start + pos] = damaged[start + pos]! ^ (1 << bit);
      writeFileSync(file, damaged);
      const { store, close } = await open(dir);
      const label = `record ${victim}, byte ${pos}, bit ${bit}`;
      assert.is(store.getSync(b(keys[victim]!)), undefined, `${label}: damaged record returned`);
      assert.ok((store.stats().extra?.droppedRecords ?? 0) >= 1, `${label}: not counted`);
      for (let k = 0; k < keys.length; k++) {
        if (k === victim) continue;
        const v = store.getSync(b(keys[k]!));
        assert.ok(v !== undefined && Buffer.from(v).equals(shortValue(keys[k]!)), `${label}: lost ${keys[k]}`);
      }
      await close();
    }
  }
  writeFileSync(file, original);
});

test('random damage anywhere: reopen never fails and only ever returns a value once written for that key', async () => {
  await check(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 200 })), { minLength: 1, maxLength: 60 }),
      fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
      async (writes, damage, cutAt) => {
        const dir = tempDir();
        const { store, close } = await open(dir);
        const history = new Map<string, Set<string>>();
        for (const [k, len] of writes) {
          const key = `k${k}`;
          const value = crashValue(`${key}/${len}`).subarray(0, len);
          await store.put(b(key), value);
          if (!history.has(key)) history.set(key, new Set());
          history.get(key)!.add(value.toString('hex'));
        }
        await close();
        const pdir = join(dir, 'p0');
        for (const f of readdirSync(pdir).filter((f) => f.endsWith('.hint'))) rmSync(join(pdir, f));
        const file = join(pdir, readdirSync(pdir).filter((f) => f.endsWith('.data'))[0]!);
        let bytes = readFileSync(file);
        for (const [where, mask] of damage) {
          const at = Math.min(bytes.length - 1, Math.floor(where * bytes.length));
          bytes[at] = bytes[at]! ^ mask;
        }
        if (cutAt !== null) bytes = bytes.subarray(0, Math.floor(cutAt * bytes.length));
        writeFileSync(file, bytes);
        const again = await open(dir);
        for (let k = 0; k < 16; k++) {
          const v = again.store.getSync(b(`k${k}`));
          if (v === undefined) continue;
          const seen = history.get(`k${k}`);
          assert.ok(seen?.has(Buffer.from(v).toString('hex')), `k${k} returned a value never written`);
        }
        await again.close();
        rmSync(dir, { recursive: true, force: true });
      },
    ),
    30,
  );
});

test('a flipped bit in a hint-indexed file is caught when the record is read', async () => {
  const dir = tempDir();
  const backend = await createLogBackend({ dir, autoMerge: false, maxFileBytes: 4096 });
  const store = (await backend.open(0)) as LogPartitionStore;
  for (let i = 0; i < 40; i++) await store.put(b(`key-${i}`), crashValue(`key-${i}`));
  await backend.close();
  const pdir = join(dir, 'p0');
  const first = join(pdir, readdirSync(pdir).filter((f) => f.endsWith('.data')).sort()[0]!);
  const bytes = readFileSync(first);
  const at = bytes.indexOf(b('key-0')) + 5 + 3; // inside key-0's value
  bytes[at] = bytes[at]! ^ 4;
  writeFileSync(first, bytes);
  const { store: s, close } = await open(dir);
  assert.ok((s.stats().extra?.hintFilesLoaded ?? 0) > 0, 'the hint was used, so the data was not scanned');
  try {
    s.getSync(b('key-0'));
    assert.unreachable('damaged record returned');
  } catch (e) {
    assert.instance(e, KvError);
    assert.is((e as KvError).code, 'KV_CORRUPTION');
  }
  assert.ok(Buffer.from(s.getSync(b('key-1'))!).equals(crashValue('key-1')));
  await close();
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.run();

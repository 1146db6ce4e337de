/**
 * The conformance suite every storage backend must pass.
 *
 * A backend's test file is a few lines:
 *
 *   runStorageBackendSuite('mine', (dir, o) => createMyBackend({ dir, ...o }));
 *
 * The suite reaches the backend only through the factory (it imports no
 * backend) and branches on `capabilities`, never on the name: ordered and
 * snapshot folds, persistence and each durability mode are checked only where
 * the backend claims them. Every test gets a fresh directory and closes what
 * it opens. The whole suite is meant to run in well under 20 s per backend.
 *
 * This module imports uvu and fast-check, which are dev dependencies: it is
 * for test files, not for production code paths.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { isErrorCode, type ErrorCode } from '../errors.js';
import type { BackendOptions, BatchOp, Durability, PartitionStore, StorageBackend } from './backend.js';

/** Builds a backend over `dir`; `options` carries what the suite varies. */
export type SuiteFactory = (
  dir: string,
  options?: Partial<Pick<BackendOptions, 'durability' | 'syncIntervalMs'>>,
) => Promise<StorageBackend>;

export interface SuiteOptions {
  /** Base directory for per-test directories; default: a temp dir removed at exit. */
  readonly dir?: string;
  /** fast-check runs per seed for the model property (default 25). */
  readonly numRuns?: number;
  /**
   * Values up to this size are written in the max-size test; a backend whose
   * `maxValueBytes` is larger is tested at this size plus an oversize value.
   * Default 16 MiB.
   */
  readonly maxValueProbeBytes?: number;
}

// The same seeding as test/helpers/seed.ts (src must not import from test/):
// a fixed seed for reproducibility, then the run's RINGKV_SEED for novelty.
const FIXED_SEED = 20070101;
const checkAsync = async <T>(prop: fc.IAsyncProperty<T>, numRuns: number): Promise<void> => {
  const runSeed = Number(process.env.RINGKV_SEED);
  for (const seed of [FIXED_SEED, Number.isFinite(runSeed) ? runSeed : FIXED_SEED]) await fc.assert(prop, { seed, numRuns });
};

const b = (...xs: number[]): Buffer => Buffer.from(xs);
const s = (x: string): Buffer => Buffer.from(x);
const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

/**
 * The stable code an error carries, read by shape rather than `instanceof
 * KvError`: a third-party backend may bring its own copy of ringkv's errors.
 */
const codeOf = (e: unknown): ErrorCode | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && isErrorCode(code) ? code : undefined;
};

/** Asserts that `call` returns a promise that rejects with a KvError of `code`. */
const rejects = async (what: string, code: ErrorCode, call: () => Promise<unknown>): Promise<void> => {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (e) {
    assert.unreachable(`${what} threw synchronously (${String(e)}); async operations must reject instead`);
    return;
  }
  try {
    await promise;
  } catch (e) {
    assert.is(codeOf(e), code, `${what} rejected with ${String(e)}`);
    return;
  }
  assert.unreachable(`${what} resolved; expected ${code}`);
};

/** Asserts that a synchronous call throws a KvError of `code`. */
const throwsCode = (what: string, code: ErrorCode, call: () => unknown): void => {
  try {
    call();
  } catch (e) {
    assert.is(codeOf(e), code, `${what} threw ${String(e)}`);
    return;
  }
  assert.unreachable(`${what} returned; expected ${code}`);
};

/** Every live entry, as hex key → hex value, read through fold. */
const contents = async (store: PartitionStore): Promise<Map<string, string>> => {
  const seen = new Map<string, string>();
  await store.fold((k, v) => {
    assert.not.ok(seen.has(hex(k)), `fold visited key ${hex(k)} twice`);
    seen.set(hex(k), hex(v));
  });
  return seen;
};

const sameEntries = (actual: Map<string, string>, expected: Map<string, string>, what: string): void => {
  assert.equal([...actual.entries()].sort(), [...expected.entries()].sort(), what);
};

/**
 * Registers the suite as a uvu suite named `storage backend <name>` and runs
 * it. Call once per backend (and per configuration worth covering).
 */
export const runStorageBackendSuite = (name: string, factory: SuiteFactory, opts: SuiteOptions = {}): void => {
  const numRuns = opts.numRuns ?? 25;
  const probeBytes = opts.maxValueProbeBytes ?? 16 * 1024 * 1024;
  let base = opts.dir;
  if (base === undefined) {
    const made = mkdtempSync(join(tmpdir(), `ringkv-conformance-${name.replace(/[^a-z0-9]+/gi, '_')}-`));
    process.on('exit', () => rmSync(made, { recursive: true, force: true }));
    base = made;
  }
  let nextDir = 0;
  const freshDir = (): string => {
    const d = join(base as string, `t${nextDir++}`);
    mkdirSync(d, { recursive: true });
    return d;
  };

  /** Runs `body` with a fresh backend, closing it whatever happens. */
  const withBackend = async <T>(
    body: (backend: StorageBackend, dir: string) => Promise<T>,
    options?: Parameters<SuiteFactory>[1],
  ): Promise<T> => {
    const dir = freshDir();
    const backend = await factory(dir, options);
    try {
      return await body(backend, dir);
    } finally {
      await backend.close();
    }
  };

  const it = suite(`storage backend ${name}`);

  it('declares a well-formed capabilities manifest', async () => {
    await withBackend(async (backend) => {
      const c = backend.capabilities;
      assert.type(c.name, 'string');
      assert.ok(c.name.length > 0, 'name is empty');
      for (const flag of ['persistent', 'syncGet', 'orderedFold', 'snapshotFold'] as const) {
        assert.type(c[flag], 'boolean', `${flag} is not a boolean`);
      }
      assert.ok(c.durability.length > 0, 'no durability mode');
      for (const d of c.durability) assert.ok(['none', 'interval', 'always'].includes(d), `unknown durability ${d}`);
      assert.ok(Number.isInteger(c.maxKeyBytes) && c.maxKeyBytes >= 1, 'maxKeyBytes must be a positive integer');
      assert.ok(Number.isInteger(c.maxValueBytes) && c.maxValueBytes >= 1, 'maxValueBytes must be a positive integer');
      const store = await backend.open(0);
      assert.is(typeof store.getSync === 'function', c.syncGet, 'getSync presence must match capabilities.syncGet');
      assert.is(store.partition, 0);
    });
  });

  it('returns undefined for a key never written, in an empty partition', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(7);
      assert.is(await store.get(s('nope')), undefined);
      if (store.getSync) assert.is(store.getSync(s('nope')), undefined);
      assert.is(store.count(), 0);
      assert.is(store.stats().keys, 0);
      assert.is(await store.fold(() => assert.unreachable('fold visited a key in an empty partition')), 0);
    });
  });

  it('round-trips binary keys (with zero bytes) and values, including the empty value', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(1);
      const pairs: Array<readonly [Buffer, Buffer]> = [
        [b(0), s('zero')],
        [b(0, 0, 0), s('three zeros')],
        [b(0xff, 0, 0xff), b(0, 0, 0)],
        [b(1), Buffer.alloc(0)],
        [s('plain'), Buffer.alloc(1000, 0xab)],
        [new Uint8Array([9, 0, 9]) as Buffer, new Uint8Array([0, 1, 2]) as Buffer], // plain Uint8Array, not Buffer
      ];
      for (const [k, v] of pairs) await store.put(k, v);
      for (const [k, v] of pairs) {
        const got = await store.get(k);
        assert.ok(got instanceof Uint8Array, `get(${hex(k)}) is not bytes`);
        assert.is(hex(got), hex(v), `get(${hex(k)})`);
        if (store.getSync) assert.is(hex(store.getSync(k) ?? b(0xde, 0xad)), hex(v), `getSync(${hex(k)})`);
      }
      assert.is(store.count(), pairs.length);
      // A key that is a prefix of a stored one is a different key.
      assert.is(await store.get(b(0, 0)), undefined);
    });
  });

  it('either stores an empty key or refuses it with KV_BAD_ARGUMENT', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(1);
      let accepted = true;
      try {
        await store.put(Buffer.alloc(0), s('v'));
      } catch (e) {
        accepted = false;
        assert.is(codeOf(e), 'KV_BAD_ARGUMENT', `empty key refused with ${String(e)}`);
      }
      if (accepted) assert.is(hex((await store.get(Buffer.alloc(0))) ?? b()), hex(s('v')));
      else assert.is(store.count(), 0);
    });
  });

  it('accepts the largest key and value it declares and refuses larger ones with KV_TOO_LARGE', async () => {
    await withBackend(async (backend) => {
      const { maxKeyBytes, maxValueBytes } = backend.capabilities;
      const store = await backend.open(2);
      const bigKey = Buffer.alloc(maxKeyBytes, 0x6b);
      bigKey[maxKeyBytes - 1] = 0; // a zero byte at the very end must count
      const valueBytes = Math.min(maxValueBytes, probeBytes);
      const bigValue = Buffer.alloc(valueBytes, 0x76);
      await store.put(bigKey, bigValue);
      const got = await store.get(bigKey);
      assert.ok(got !== undefined, 'largest key not found');
      assert.is(got.length, valueBytes);
      assert.ok(Buffer.from(got).equals(bigValue), 'largest value changed');

      const tooLongKey = Buffer.alloc(maxKeyBytes + 1, 0x6b);
      await rejects('put with an oversize key', 'KV_TOO_LARGE', () => store.put(tooLongKey, s('v')));
      await rejects('get with an oversize key', 'KV_TOO_LARGE', () => store.get(tooLongKey));
      await rejects('delete with an oversize key', 'KV_TOO_LARGE', () => store.delete(tooLongKey));
      await rejects('batch with an oversize key', 'KV_TOO_LARGE', () =>
        store.batch([{ type: 'put', key: tooLongKey, value: s('v') }]),
      );
      if (maxValueBytes <= probeBytes) {
        const tooBig = Buffer.alloc(maxValueBytes + 1);
        await rejects('put with an oversize value', 'KV_TOO_LARGE', () => store.put(s('k'), tooBig));
        await rejects('batch with an oversize value', 'KV_TOO_LARGE', () =>
          store.batch([{ type: 'put', key: s('k'), value: tooBig }]),
        );
      }
      assert.is(await store.get(s('k')), undefined, 'a refused write left data behind');
      assert.is(store.count(), 1);
    });
  });

  it('overwrites: the last put wins and the count does not grow', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(3);
      await store.put(s('k'), s('first'));
      await store.put(s('k'), s('second, longer'));
      await store.put(s('k'), s('3rd'));
      assert.is(hex((await store.get(s('k'))) ?? b()), hex(s('3rd')));
      assert.is(store.count(), 1);
    });
  });

  it('deletes a key, and deleting an absent key is a no-op', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(3);
      await store.put(s('a'), s('1'));
      await store.put(s('b'), s('2'));
      await store.delete(s('a'));
      await store.delete(s('never'));
      await store.delete(s('a'));
      assert.is(await store.get(s('a')), undefined);
      assert.is(hex((await store.get(s('b'))) ?? b()), hex(s('2')));
      assert.is(store.count(), 1);
      sameEntries(await contents(store), new Map([[hex(s('b')), hex(s('2'))]]), 'contents after deletes');
    });
  });

  it('copies keys and values: the caller may reuse its buffers at once, and results are its own', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(4);
      const key = s('key-1');
      const value = s('value-1');
      const pending = store.put(key, value);
      // Mutate before the write has resolved: the store must not care.
      key.fill(0x41);
      value.fill(0x42);
      await pending;
      assert.is(hex((await store.get(s('key-1'))) ?? b()), hex(s('value-1')));
      assert.is(await store.get(key), undefined);

      const batchValue = s('value-2');
      const batched = store.batch([{ type: 'put', key: s('key-2'), value: batchValue }]);
      batchValue.fill(0x43);
      await batched;
      assert.is(hex((await store.get(s('key-2'))) ?? b()), hex(s('value-2')));

      // A result must not be overwritten by the next read, nor write through.
      const first = await store.get(s('key-1'));
      const second = await store.get(s('key-2'));
      assert.is(hex(first ?? b()), hex(s('value-1')), 'an earlier get result changed after a later get');
      assert.is(hex(second ?? b()), hex(s('value-2')));
      first?.fill(0);
      assert.is(hex((await store.get(s('key-1'))) ?? b()), hex(s('value-1')), 'mutating a get result changed the store');
      if (store.getSync) {
        const x = store.getSync(s('key-1'));
        store.getSync(s('key-2'));
        assert.is(hex(x ?? b()), hex(s('value-1')), 'an earlier getSync result changed after a later one');
      }
    });
  });

  it('applies a batch in order: put then delete of one key leaves it absent, delete then put leaves it present', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(5);
      await store.put(s('gone'), s('old'));
      const ops: BatchOp[] = [
        { type: 'put', key: s('x'), value: s('1') },
        { type: 'delete', key: s('x') },
        { type: 'delete', key: s('y') },
        { type: 'put', key: s('y'), value: s('2') },
        { type: 'put', key: s('z'), value: s('a') },
        { type: 'put', key: s('z'), value: s('b') },
        { type: 'delete', key: s('gone') },
      ];
      await store.batch(ops);
      await store.batch([]);
      sameEntries(
        await contents(store),
        new Map([
          [hex(s('y')), hex(s('2'))],
          [hex(s('z')), hex(s('b'))],
        ]),
        'contents after the batch',
      );
      assert.is(store.count(), 2);
    });
  });

  it('refuses a batch with one oversize op without applying any of it', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(5);
      await store.put(s('kept'), s('old'));
      const tooLongKey = Buffer.alloc(backend.capabilities.maxKeyBytes + 1, 1);
      await rejects('a batch with an oversize key last', 'KV_TOO_LARGE', () =>
        store.batch([
          { type: 'put', key: s('new'), value: s('1') },
          { type: 'delete', key: s('kept') },
          { type: 'put', key: tooLongKey, value: s('2') },
        ]),
      );
      assert.is(await store.get(s('new')), undefined, 'an op before the bad one was applied');
      assert.is(hex((await store.get(s('kept'))) ?? b()), hex(s('old')), 'a delete before the bad op was applied');
      assert.is(store.count(), 1);
    });
  });

  it('folds over every live key once with its value; keysOnly visits the same keys', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(6);
      const expected = new Map<string, string>();
      for (let i = 0; i < 300; i++) {
        const k = Buffer.from([i % 7, i >> 8, i & 0xff]);
        const v = Buffer.alloc(i % 50, i & 0xff);
        await store.put(k, v);
        expected.set(hex(k), hex(v));
      }
      for (let i = 0; i < 300; i += 3) {
        const k = Buffer.from([i % 7, i >> 8, i & 0xff]);
        await store.delete(k);
        expected.delete(hex(k));
      }
      const seen = new Map<string, string>();
      const visited = await store.fold((k, v) => {
        assert.not.ok(seen.has(hex(k)), 'a key was visited twice');
        seen.set(hex(k), hex(v));
      });
      assert.is(visited, expected.size);
      sameEntries(seen, expected, 'fold contents');

      const keys: string[] = [];
      const keysVisited = await store.fold(
        (k, v) => {
          assert.is(v.length, 0, 'keysOnly fold handed a non-empty value');
          keys.push(hex(k));
        },
        { keysOnly: true },
      );
      assert.is(keysVisited, expected.size);
      assert.equal([...keys].sort(), [...expected.keys()].sort());
    });
  });

  it('stops a fold when visit returns false and reports how many were visited', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(6);
      for (let i = 0; i < 20; i++) await store.put(Buffer.from([i]), Buffer.from([i]));
      let calls = 0;
      const visited = await store.fold(() => {
        calls++;
        return calls === 5 ? false : undefined;
      });
      assert.is(calls, 5);
      assert.is(visited, 5);
      // The store is usable afterwards (an early stop released what it held).
      await store.put(Buffer.from([99]), s('after'));
      assert.is(store.count(), 21);
    });
  });

  it('folds in ascending unsigned byte order when capabilities.orderedFold', async () => {
    await withBackend(async (backend) => {
      if (!backend.capabilities.orderedFold) return;
      const store = await backend.open(8);
      const keys = [b(0xff), b(0x80), b(0x7f), b(0), b(0, 0), b(1), b(1, 0), s('a'), s('ab'), s('b'), b(0xfe, 0xff, 0xff)];
      for (const k of keys) await store.put(k, s('v'));
      const order: Buffer[] = [];
      await store.fold((k) => void order.push(Buffer.from(k)), { keysOnly: true });
      const sorted = [...keys].sort(Buffer.compare);
      assert.equal(order.map(hex), sorted.map(hex));
    });
  });

  it('folds over a snapshot when capabilities.snapshotFold (writes made during the fold are not seen)', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(9);
      // More keys than a typical yield interval, so a fold that yields to the
      // event loop lets the writes below commit while it is still running.
      const n = 10_000;
      const key = (i: number): Buffer => {
        const k = Buffer.alloc(4);
        k.writeUInt32BE(i);
        return k;
      };
      await store.batch(Array.from({ length: n }, (_, i): BatchOp => ({ type: 'put', key: key(i), value: s(`v${i}`) })));
      const writes: Array<Promise<void>> = [];
      const seen = new Map<string, string>();
      let calls = 0;
      await store.fold((k, v) => {
        if (calls++ === 0) {
          writes.push(store.put(key(n + 1), s('new')));
          writes.push(store.put(key(n - 1), s('changed')));
          writes.push(store.delete(key(n - 2)));
          writes.push(store.batch([{ type: 'delete', key: key(n - 3) }]));
        }
        seen.set(hex(k), Buffer.from(v).toString());
      });
      await Promise.all(writes);
      // Keys nobody touched are seen exactly once with their value, always.
      for (let i = 0; i < n - 3; i++) assert.is(seen.get(hex(key(i))), `v${i}`, `key ${i} during a concurrent fold`);
      if (backend.capabilities.snapshotFold) {
        assert.is(seen.size, n, 'a snapshot fold saw a key added during it');
        assert.is(seen.get(hex(key(n - 1))), `v${n - 1}`, 'a snapshot fold saw an overwrite made during it');
        assert.is(seen.get(hex(key(n - 2))), `v${n - 2}`, 'a snapshot fold missed a key deleted during it');
        assert.is(seen.get(hex(key(n - 3))), `v${n - 3}`, 'a snapshot fold missed a key batch-deleted during it');
      }
      assert.is(store.count(), n - 2 + 1);
      assert.is(hex((await store.get(key(n - 1))) ?? b()), hex(s('changed')));
    });
  });

  it('reports count and stats that agree with its contents', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(10);
      let valueBytes = 0;
      for (let i = 0; i < 100; i++) {
        await store.put(s(`key-${i}`), Buffer.alloc(i));
        valueBytes += i;
      }
      for (let i = 0; i < 100; i += 2) {
        await store.delete(s(`key-${i}`));
        valueBytes -= i;
      }
      const st = store.stats();
      assert.is(store.count(), 50);
      assert.is(st.keys, 50);
      assert.is((await contents(store)).size, 50);
      assert.ok(st.liveBytes >= valueBytes, `liveBytes ${st.liveBytes} < the ${valueBytes} value bytes stored`);
      assert.ok(Number.isFinite(st.deadBytes) && st.deadBytes >= 0, 'deadBytes must be a non-negative number');
      for (const [k, v] of Object.entries(st.extra ?? {})) assert.type(v, 'number', `stats.extra.${k}`);
    });
  });

  it('keeps partitions isolated: one key in two partitions holds two values', async () => {
    await withBackend(async (backend) => {
      const p0 = await backend.open(0);
      const p1 = await backend.open(1);
      await p0.put(s('shared'), s('zero'));
      await p1.put(s('shared'), s('one'));
      await p1.put(s('only-one'), s('x'));
      assert.is(hex((await p0.get(s('shared'))) ?? b()), hex(s('zero')));
      assert.is(hex((await p1.get(s('shared'))) ?? b()), hex(s('one')));
      assert.is(await p0.get(s('only-one')), undefined);
      await p0.delete(s('shared'));
      assert.is(hex((await p1.get(s('shared'))) ?? b()), hex(s('one')));
      assert.is(p0.count(), 0);
      assert.is(p1.count(), 2);
    });
  });

  it('returns the same store when a partition is opened twice, even concurrently', async () => {
    await withBackend(async (backend) => {
      const [a, b2] = await Promise.all([backend.open(11), backend.open(11)]);
      assert.ok(a === b2, 'concurrent opens returned different stores');
      assert.ok((await backend.open(11)) === a, 'a second open returned a different store');
      // The contract names no code for a bad partition number; it must fail, not open.
      for (const bad of [-1, 1.5, Number.NaN]) {
        let failed = false;
        try {
          await backend.open(bad);
        } catch {
          failed = true;
        }
        assert.ok(failed, `open(${bad}) succeeded`);
      }
    });
  });

  it('hands out a new, working store when a partition is opened while its close is still running', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(19);
      await store.put(s('k'), s('v'));
      const closing = store.close();
      const again = await backend.open(19);
      await closing;
      assert.ok(again !== store, 'the closing store was handed out again');
      await again.put(s('k2'), s('v2'));
      assert.is(hex((await again.get(s('k2'))) ?? b()), hex(s('v2')));
      if (backend.capabilities.persistent) assert.is(hex((await again.get(s('k'))) ?? b()), hex(s('v')));
    });
  });

  it('drops a partition: its data is gone, its store is closed, partitions() no longer lists it', async () => {
    await withBackend(async (backend) => {
      const keep = await backend.open(12);
      const gone = await backend.open(13);
      await keep.put(s('k'), s('keep'));
      await gone.put(s('k'), s('gone'));
      const before = await backend.partitions();
      assert.ok(before.includes(12) && before.includes(13), `partitions() before drop: ${before}`);
      await backend.drop(13);
      const after = await backend.partitions();
      assert.ok(after.includes(12), `partitions() after drop: ${after}`);
      assert.not.ok(after.includes(13), `a dropped partition is still listed: ${after}`);
      await rejects('get on a dropped partition', 'KV_CLOSED', () => gone.get(s('k')));
      const again = await backend.open(13);
      assert.ok(again !== gone, 'reopening a dropped partition returned the dropped store');
      assert.is(await again.get(s('k')), undefined, 'a dropped partition kept its data');
      assert.is(again.count(), 0);
      assert.is(hex((await keep.get(s('k'))) ?? b()), hex(s('keep')));
      // Dropping a partition that was never opened, or twice, is harmless.
      await backend.drop(14);
      await backend.drop(13);
    });
  });

  it('syncs on request', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(15);
      await store.put(s('k'), s('v'));
      await store.sync();
      assert.is(hex((await store.get(s('k'))) ?? b()), hex(s('v')));
    });
  });

  it('keeps data across close and reopen in every durability mode it supports, when persistent', async () => {
    const probe = await factory(freshDir());
    const caps = probe.capabilities;
    await probe.close();
    if (!caps.persistent) return;
    for (const durability of caps.durability) {
      const dir = freshDir();
      const first = await factory(dir, { durability, syncIntervalMs: 50 });
      const store = await first.open(3);
      await store.put(s('a'), s(`a-${durability}`));
      await store.batch([
        { type: 'put', key: s('b'), value: s('b') },
        { type: 'put', key: s('c'), value: s('c') },
        { type: 'delete', key: s('b') },
      ]);
      await store.put(s('d'), s('d'));
      await store.delete(s('d'));
      // Reopening one partition within the same backend keeps it too.
      await store.close();
      const reopened = await first.open(3);
      assert.ok(reopened !== store, 'a closed store was handed out again');
      assert.is(hex((await reopened.get(s('a'))) ?? b()), hex(s(`a-${durability}`)), `${durability}: partition reopen`);
      await first.close();

      const second = await factory(dir);
      try {
        assert.ok((await second.partitions()).includes(3), `${durability}: partition 3 not listed after reopen`);
        const again = await second.open(3);
        sameEntries(
          await contents(again),
          new Map([
            [hex(s('a')), hex(s(`a-${durability}`))],
            [hex(s('c')), hex(s('c'))],
          ]),
          `${durability}: contents after reopen`,
        );
        assert.is(again.count(), 2);
      } finally {
        await second.close();
      }
    }
  });

  it('refuses every operation on a closed store with KV_CLOSED', async () => {
    await withBackend(async (backend) => {
      const store = await backend.open(16);
      await store.put(s('k'), s('v'));
      await store.close();
      await store.close(); // closing twice is harmless
      await rejects('get', 'KV_CLOSED', () => store.get(s('k')));
      await rejects('put', 'KV_CLOSED', () => store.put(s('k'), s('v')));
      await rejects('delete', 'KV_CLOSED', () => store.delete(s('k')));
      await rejects('batch', 'KV_CLOSED', () => store.batch([{ type: 'delete', key: s('k') }]));
      await rejects('fold', 'KV_CLOSED', () => store.fold(() => undefined));
      await rejects('sync', 'KV_CLOSED', () => store.sync());
      if (store.getSync) throwsCode('getSync', 'KV_CLOSED', () => store.getSync?.(s('k')));
      throwsCode('count', 'KV_CLOSED', () => store.count());
      throwsCode('stats', 'KV_CLOSED', () => store.stats());
    });
  });

  it('refuses every operation once the backend is closed, on it and on stores it opened', async () => {
    const backend = await factory(freshDir());
    const store = await backend.open(17);
    await store.put(s('k'), s('v'));
    await backend.close();
    await backend.close(); // closing twice is harmless
    await rejects('backend.open', 'KV_CLOSED', () => backend.open(17));
    await rejects('backend.open of another partition', 'KV_CLOSED', () => backend.open(18));
    await rejects('backend.drop', 'KV_CLOSED', () => backend.drop(17));
    await rejects('backend.partitions', 'KV_CLOSED', () => backend.partitions());
    await rejects('get on a store of a closed backend', 'KV_CLOSED', () => store.get(s('k')));
    await rejects('put on a store of a closed backend', 'KV_CLOSED', () => store.put(s('k'), s('v')));
  });

  it('agrees with a Map model on random sequences of put, delete, batch and get', async () => {
    const keyArb = fc.constantFrom(...['a', 'b', 'c', 'ab', '\u0000', '\u0000\u0000', 'zz'].map((x) => Buffer.from(x, 'latin1')));
    const valueArb = fc.uint8Array({ maxLength: 24 }).map((u) => Buffer.from(u));
    type Op =
      | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer }
      | { readonly type: 'delete'; readonly key: Buffer }
      | { readonly type: 'get'; readonly key: Buffer }
      | { readonly type: 'batch'; readonly ops: readonly BatchOp[] };
    const putArb = fc.record({ type: fc.constant('put' as const), key: keyArb, value: valueArb });
    const delArb = fc.record({ type: fc.constant('delete' as const), key: keyArb });
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: putArb, weight: 4 },
      { arbitrary: delArb, weight: 2 },
      { arbitrary: fc.record({ type: fc.constant('get' as const), key: keyArb }), weight: 3 },
      { arbitrary: fc.record({ type: fc.constant('batch' as const), ops: fc.array(fc.oneof(putArb, delArb), { maxLength: 6 }) }), weight: 2 },
    );
    const backend = await factory(freshDir());
    let partition = 100;
    try {
      await checkAsync(
        fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), async (ops) => {
          const p = partition++;
          const store = await backend.open(p);
          const model = new Map<string, string>();
          const apply = (op: BatchOp): void => {
            if (op.type === 'put') model.set(hex(op.key), hex(op.value));
            else model.delete(hex(op.key));
          };
          for (const op of ops) {
            if (op.type === 'put') {
              await store.put(op.key, op.value);
              apply(op);
            } else if (op.type === 'delete') {
              await store.delete(op.key);
              apply(op);
            } else if (op.type === 'batch') {
              await store.batch(op.ops);
              op.ops.forEach(apply);
            } else {
              const got = await store.get(op.key);
              assert.is(got === undefined ? undefined : hex(got), model.get(hex(op.key)), `get(${hex(op.key)})`);
            }
          }
          sameEntries(await contents(store), model, 'final contents');
          assert.is(store.count(), model.size);
          await backend.drop(p);
        }),
        numRuns,
      );
    } finally {
      await backend.close();
    }
  });

  it.run();
};

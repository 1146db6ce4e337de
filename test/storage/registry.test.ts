import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isKvError } from '../../src/errors.js';
import { backendNames, createBackend, registerBackend, type StorageBackend } from '../../src/storage/index.js';

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
  } catch (e) {
    return isKvError(e) ? e.code : `not a KvError: ${String(e)}`;
  }
  return undefined;
};

test('the built-in names are registered', () => {
  const names = backendNames();
  for (const n of ['log', 'lmdb', 'memory']) assert.ok(names.includes(n), `${n} missing from ${names}`);
});

test('createBackend builds the memory backend by name', async () => {
  const backend = await createBackend('memory', { dir: '' });
  assert.is(backend.capabilities.name, 'memory');
  const store = await backend.open(0);
  await store.put(Buffer.from('k'), Buffer.from('v'));
  assert.is(Buffer.from((await store.get(Buffer.from('k'))) ?? []).toString(), 'v');
  await backend.close();
});

test('a third-party backend registered by name is created with the options given', async () => {
  const seen: string[] = [];
  registerBackend('thirdparty', async (options) => {
    seen.push(options.dir);
    // Any object honouring the contract will do; delegate to memory's.
    const inner = await createBackend('memory', options);
    const wrapped: StorageBackend = {
      capabilities: { ...inner.capabilities, name: 'thirdparty' },
      open: (p) => inner.open(p),
      drop: (p) => inner.drop(p),
      partitions: () => inner.partitions(),
      close: () => inner.close(),
    };
    return wrapped;
  });
  assert.ok(backendNames().includes('thirdparty'));
  const backend = await createBackend('thirdparty', { dir: '/nowhere' });
  assert.is(backend.capabilities.name, 'thirdparty');
  assert.equal(seen, ['/nowhere']);
  const store = await backend.open(3);
  await store.put(Buffer.from('k'), Buffer.from('v'));
  assert.equal(await backend.partitions(), [3]);
  await backend.close();
});

test('an unknown name is refused with KV_BAD_ARGUMENT', async () => {
  assert.is(await codeOf(createBackend('no-such-backend', { dir: '' })), 'KV_BAD_ARGUMENT');
  assert.is(await codeOf(createBackend(42 as unknown as string, { dir: '' })), 'KV_BAD_ARGUMENT');
});

test('a registered name is not silently replaced, unless asked', async () => {
  const factory = async () => createBackend('memory', { dir: '' });
  assert.throws(() => registerBackend('memory', factory), (e: unknown) => isKvError(e) && e.code === 'KV_CONFLICT');
  registerBackend('replaceable', factory);
  registerBackend('replaceable', factory, { replace: true });
});

test('bad names and factories are refused with KV_BAD_ARGUMENT', () => {
  const bad = (e: unknown): boolean => isKvError(e) && e.code === 'KV_BAD_ARGUMENT';
  assert.throws(() => registerBackend('', async () => createBackend('memory', { dir: '' })), bad);
  assert.throws(() => registerBackend('Has Space', async () => createBackend('memory', { dir: '' })), bad);
  assert.throws(() => registerBackend('fine', 'nope' as never), bad);
});

test('the memory backend refuses a durability it cannot honour with KV_UNSUPPORTED', async () => {
  assert.is(await codeOf(createBackend('memory', { dir: '', durability: 'always' })), 'KV_UNSUPPORTED');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as D from '../../src/core/dvvset.js';
import { createMemoryBackend } from '../../src/storage/memory.js';
import { Replica } from '../../src/node/replica.js';
import { StandaloneService, toReadResult } from '../../src/node/service.js';
import { KeyLock } from '../../src/util/key_lock.js';
import { check } from '../helpers/seed.js';

const EMPTY = new Uint8Array(0);
const text = (u: Uint8Array): string => Buffer.from(u).toString();

const open = async (): Promise<{ replica: Replica; service: StandaloneService }> => {
  const replica = new Replica({ backend: await createMemoryBackend(), replicaId: 'node-a', partitionBits: 2 });
  await replica.openAll([0, 1, 2, 3]);
  return { replica, service: new StandaloneService(replica) };
};

test('concurrent blind puts to one key (eager lock path) all survive as siblings', async () => {
  const { service } = await open();
  const key = Buffer.from('k');
  await Promise.all(Array.from({ length: 20 }, (_, i) => service.put(key, Buffer.from(`v${i}`), EMPTY, 0, 0)));
  const r = await service.get(key, 0, 0);
  assert.is(r.siblings.length, 20);
  assert.equal(r.siblings.map((s) => text(s.value)).sort(), Array.from({ length: 20 }, (_, i) => `v${i}`).sort());
});

test('a put with the context of a get supersedes exactly what the get returned, even while other puts are queued', async () => {
  const { service } = await open();
  const key = Buffer.from('k');
  await service.put(key, Buffer.from('a'), EMPTY, 0, 0);
  const seen = await service.get(key, 0, 0);
  // Issued together: the blind write is concurrent with the read-then-write.
  await Promise.all([service.put(key, Buffer.from('b'), seen.context, 0, 0), service.put(key, Buffer.from('c'), EMPTY, 0, 0)]);
  const r = await service.get(key, 0, 0);
  assert.equal(r.siblings.map((s) => text(s.value)).sort(), ['b', 'c']);
});

test('get replies (from stored bytes) equal toReadResult of the stored clock, deletes included', async () => {
  const { replica, service } = await open();
  await check(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('x', 'y'), fc.option(fc.string({ maxLength: 5 })), fc.boolean()), { maxLength: 12 }), async (ops) => {
      for (const [k, v, withContext] of ops) {
        const key = Buffer.from(k);
        const ctx = withContext ? (await service.get(key, 0, 0)).context : EMPTY;
        await service.put(key, v === null ? null : Buffer.from(v), ctx, 0, 0);
      }
      for (const k of ['x', 'y', 'never']) {
        const key = Buffer.from(k);
        const fromView = await service.get(key, 0, 0);
        const fromClock = toReadResult(await replica.read(key));
        assert.equal(Buffer.from(fromView.context), Buffer.from(fromClock.context));
        assert.is(fromView.found, fromClock.found);
        assert.equal(
          fromView.siblings.map((s) => [text(s.value), s.tombstone]),
          fromClock.siblings.map((s) => [text(s.value), s.tombstone]),
        );
      }
    }),
    100,
  );
});

test('put rejects (does not throw) on a bad context or w > 1', async () => {
  const { service } = await open();
  let p = service.put(Buffer.from('k'), Buffer.from('v'), Uint8Array.of(1, 2, 3), 0, 0);
  await p.then(() => assert.unreachable(), (e: { code: string }) => assert.is(e.code, 'KV_BAD_ARGUMENT'));
  p = service.put(Buffer.from('k'), Buffer.from('v'), EMPTY, 2, 0);
  await p.then(() => assert.unreachable(), (e: { code: string }) => assert.is(e.code, 'KV_UNAVAILABLE'));
});

test('KeyLock.runEager starts work on a free key now, queues it behind a busy key, and survives a throwing step', async () => {
  const lock = new KeyLock();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = lock.runEager('k', () => {
    log.push('first started');
    return gate;
  });
  assert.equal(log, ['first started'], 'a free key runs inside the call');
  const second = lock.runEager('k', () => void log.push('second'));
  const thrown = lock.runEager('k', () => {
    throw new Error('boom');
  });
  const after = lock.runEager('k', () => 'ok');
  await Promise.resolve();
  assert.equal(log, ['first started'], 'a busy key waits');
  release();
  await first;
  await second;
  await thrown.then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'boom'));
  assert.is(await after, 'ok');
  await new Promise((r) => setImmediate(r));
  assert.is(lock.size, 0);
  // A synchronous throw on a free key becomes a rejection, not an exception.
  await lock.runEager('z', () => {
    throw new Error('sync');
  }).then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'sync'));
});

test('D.update through coordinate keeps a dot per write (counter advances)', async () => {
  const { replica } = await open();
  const key = Buffer.from('k');
  for (let i = 0; i < 5; i++) await replica.coordinate(key, D.newValue(Uint8Array.of(0, i)));
  const obj = await replica.read(key);
  assert.ok(obj !== null);
  assert.is(obj![0]!.counter, 5);
});

test('coordinateNow writes at once on a free store, and waits behind a key that is locked', async () => {
  const { replica } = await open();
  const key = Buffer.from('k');
  const first = replica.coordinateNow(key, D.newValue(Buffer.from([0, 0x61])));
  assert.not.ok(first instanceof Promise, 'no lock held: the write is done when the call returns');
  // A merge holds the key's lock across an await; a coordinateNow issued meanwhile must not
  // read the object before the merge has written it, or the merged sibling would be lost.
  const other = D.update(D.newValue(Buffer.from([0, 0x62])), 'node-b');
  const merging = replica.merge(key, other);
  const second = replica.coordinateNow(key, D.newValue(Buffer.from([0, 0x63])));
  assert.ok(second instanceof Promise, 'a key is locked: the write queues');
  await merging;
  await second;
  const values = D.values((await replica.read(key))!).map((v) => String.fromCharCode(v[1]!)).sort();
  assert.equal(values, ['a', 'b', 'c'], 'the merged sibling and both writes survive');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyLock } from '../../src/util/key_lock.js';

const tick = () => new Promise((r) => setImmediate(r));

test('work on one key runs one at a time, in arrival order', async () => {
  const lock = new KeyLock();
  let value = 0;
  const log: number[] = [];
  const rmw = (i: number) =>
    lock.run(Buffer.from('k'), async () => {
      const seen = value;
      await tick();
      value = seen + 1;
      log.push(i);
    });
  await Promise.all([rmw(0), rmw(1), rmw(2), rmw(3)]);
  assert.is(value, 4, 'no increment lost');
  assert.equal(log, [0, 1, 2, 3]);
  await tick();
  assert.is(lock.size, 0, 'idle keys are forgotten');
});

test('different keys do not wait for each other', async () => {
  const lock = new KeyLock();
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a = lock.run('a', async () => {
    await gate;
    order.push('a');
  });
  const b = lock.run('b', () => {
    order.push('b');
  });
  await b;
  release();
  await a;
  assert.equal(order, ['b', 'a']);
});

test('a failing step rejects its caller and does not block the next', async () => {
  const lock = new KeyLock();
  const failed = lock.run('k', () => {
    throw new Error('boom');
  });
  const after = lock.run('k', () => 7);
  await assert.not.throws(async () => undefined);
  let caught = false;
  await failed.catch(() => (caught = true));
  assert.ok(caught);
  assert.is(await after, 7);
});

test('byte keys that differ only in high bytes are different keys', async () => {
  const lock = new KeyLock();
  const order: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a = lock.run(new Uint8Array([0xff, 0x00]), async () => {
    await gate;
    order.push(1);
  });
  await lock.run(new Uint8Array([0xfe, 0x00]), () => order.push(2));
  release();
  await a;
  assert.equal(order, [2, 1]);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { exponentialBackoff } from '../../src/client/backoff.js';
import { check } from '../helpers/seed.js';

const take = (it: Iterator<number, void>, n: number): number[] => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
};

test('delays stay within [0, min(max, base * 2^attempt)]', () => {
  check(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 100000 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (base, extra, r) => {
      const max = base + extra;
      const delays = take(exponentialBackoff({ baseMs: base, maxMs: max, random: () => r })(), 40);
      delays.forEach((d, i) => {
        assert.ok(d >= 0);
        assert.ok(d <= Math.min(max, base * 2 ** i));
      });
    }),
  );
});

test('with random = 1-ε the ceiling doubles until it reaches the cap', () => {
  const delays = take(exponentialBackoff({ baseMs: 10, maxMs: 100, random: () => 0.999999 })(), 6);
  assert.equal(delays, [9, 19, 39, 79, 99, 99]);
});

test('maxAttempts ends the sequence; a new generator starts over', () => {
  const policy = exponentialBackoff({ baseMs: 10, maxMs: 1000, maxAttempts: 3, random: () => 0.5 });
  assert.equal(take(policy(), 10), [5, 10, 20]);
  assert.equal(take(policy(), 10), [5, 10, 20]);
});

test('bad parameters are refused', () => {
  assert.throws(() => exponentialBackoff({ baseMs: 0 }), RangeError);
  assert.throws(() => exponentialBackoff({ baseMs: 10, maxMs: 5 }), RangeError);
});

test.run();

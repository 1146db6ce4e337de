import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import { addEncoded, encodeHistogram, fmtRate, fmtUs, newHistogram, recordUs, summarize } from '../../bench/lib/latency.js';

test('merging histograms (through their encoding, as from a child process) equals recording everything in one', () => {
  check(
    fc.property(fc.array(fc.integer({ min: 1, max: 5_000_000 }), { minLength: 1, maxLength: 300 }), fc.array(fc.integer({ min: 1, max: 5_000_000 }), { maxLength: 300 }), (xs, ys) => {
      const a = newHistogram();
      const b = newHistogram();
      const all = newHistogram();
      for (const x of xs) (recordUs(a, x), recordUs(all, x));
      for (const y of ys) (recordUs(b, y), recordUs(all, y));
      addEncoded(a, encodeHistogram(b));
      const m = summarize(a);
      const s = summarize(all);
      // The encoding keeps bucket counts, so the max comes back as its bucket's top: equal at the histogram's precision.
      const sameMax = m.maxUs >= s.maxUs && m.maxUs - s.maxUs <= Math.max(1, s.maxUs / 1000);
      return m.count === xs.length + ys.length && m.p50Us === s.p50Us && m.p90Us === s.p90Us && m.p99Us === s.p99Us && m.p999Us === s.p999Us && sameMax;
    }),
    50,
  );
});

test('merging in process (add) keeps every percentile and the exact max', () => {
  const a = newHistogram();
  const b = newHistogram();
  const all = newHistogram();
  for (let i = 0; i < 1000; i++) {
    const v = 1 + ((i * 7919) % 250_000);
    recordUs(i % 3 === 0 ? a : b, v);
    recordUs(all, v);
  }
  a.add(b);
  assert.equal(summarize(a), summarize(all));
});

test('percentiles of a known distribution, within the 3-significant-digit precision', () => {
  const h = newHistogram();
  for (let v = 1; v <= 10_000; v++) recordUs(h, v);
  const s = summarize(h);
  assert.is(s.count, 10_000);
  for (const [got, want] of [
    [s.p50Us, 5000],
    [s.p90Us, 9000],
    [s.p99Us, 9900],
    [s.p999Us, 9990],
    [s.maxUs, 10_000],
  ] as const) assert.ok(Math.abs(got - want) / want <= 0.001, `${got} vs ${want}`);
});

test('an empty histogram summarizes to zeros; out-of-range values are clamped, not lost', () => {
  assert.equal(summarize(newHistogram()), { count: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0, meanUs: 0 });
  const h = newHistogram();
  recordUs(h, 0.2);
  recordUs(h, 1e12);
  assert.is(h.totalCount, 2);
  assert.is(h.minNonZeroValue, 1);
  assert.ok(summarize(h).maxUs >= 60_000_000);
});

test('latency and rate formatting', () => {
  assert.is(fmtUs(87.4), '87 µs');
  assert.is(fmtUs(1234), '1.23 ms');
  assert.is(fmtRate(123_456.7), '123.5k');
  assert.is(fmtRate(999), '999');
});

test.run();

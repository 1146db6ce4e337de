import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as P from '../../src/core/phi.js';
import { check } from '../helpers/seed.js';

/** Feeds heartbeats at the given gaps, starting at t0; returns the state. */
const feed = (s: P.PhiState, t0: number, gaps: readonly number[]): P.PhiState => {
  let st = P.heartbeat(s, t0);
  let t = t0;
  for (const g of gaps) {
    t += g;
    st = P.heartbeat(st, t);
  }
  return st;
};

const regular = (n: number, gapMs = 1000): number[] => Array.from({ length: n }, () => gapMs);

/** The first whole ms at or after the last heartbeat where phi reaches the threshold. */
const firstSuspectMs = (s: P.PhiState, threshold: number, stepMs = 1): number => {
  let t = s.lastHeartbeatMs!;
  while (P.phi(s, t) < threshold) t += stepMs;
  return t;
};

test('before any heartbeat there is nothing to suspect', () => {
  const s = P.init();
  assert.is(P.phi(s, 123_456), 0);
  assert.ok(P.isAvailable(s, 1e12));
  assert.is(P.suspectAtMs(s), undefined);
});

test('regular heartbeats keep phi low', () => {
  const s = feed(P.init(), 0, regular(200));
  const last = s.lastHeartbeatMs!;
  assert.ok(P.phi(s, last + 1000) < 1, `phi at one period: ${P.phi(s, last + 1000)}`);
  assert.ok(P.phi(s, last + 500) < 0.1);
  assert.ok(P.isAvailable(s, last + 1200));
});

test('after heartbeats stop, phi rises monotonically and crosses the threshold about when expected', () => {
  const s = feed(P.init({ acceptableHeartbeatPauseMs: 500 }), 10_000, regular(300));
  const last = s.lastHeartbeatMs!;
  let prev = -1;
  for (let t = last; t <= last + 10_000; t += 10) {
    const p = P.phi(s, t);
    assert.ok(p >= prev, `phi fell at +${t - last} ms: ${prev} → ${p}`);
    prev = p;
  }
  // With the window a steady 1000 ms, the spread is the minimum 100 ms, and
  // phi = 8 sits about 5.2 standard deviations past mean + pause.
  const crossing = firstSuspectMs(s, 8);
  const expected = last + 1000 + 500 + 5.2 * 100;
  assert.ok(Math.abs(crossing - expected) <= 10, `crossed at +${crossing - last} ms, expected about +${expected - last}`);
  assert.ok(P.isAvailable(s, crossing - 1));
  assert.not.ok(P.isAvailable(s, crossing));
  // suspectAtMs names the same moment, so the shell can set a timer for it
  assert.ok(Math.abs(P.suspectAtMs(s)! - crossing) <= 1);
});

test('law: phi(s, suspectAtMs(s, θ)) = θ', () => {
  check(
    fc.property(
      fc.array(fc.integer({ min: 50, max: 5000 }), { minLength: 0, maxLength: 50 }),
      fc.double({ min: 0.5, max: 30, noNaN: true }),
      fc.constantFrom<P.Distribution>('normal', 'exponential'),
      (gaps, theta, distribution) => {
        const s = feed(P.init({ distribution, maxSamples: 20 }), 0, gaps);
        const at = P.suspectAtMs(s, theta)!;
        assert.ok(Math.abs(P.phi(s, at) - theta) < 1e-6 * Math.max(1, theta), `phi ${P.phi(s, at)} vs ${theta}`);
      },
    ),
    300,
  );
});

test('law: phi is monotone non-decreasing in now between heartbeats', () => {
  check(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 40 }),
      fc.integer({ min: -2000, max: 60_000 }),
      fc.integer({ min: 0, max: 60_000 }),
      fc.record({
        minStdDeviationMs: fc.integer({ min: 1, max: 500 }),
        acceptableHeartbeatPauseMs: fc.integer({ min: 0, max: 3000 }),
        distribution: fc.constantFrom<P.Distribution>('normal', 'exponential'),
      }),
      (gaps, d1, extra, config) => {
        const s = feed(P.init({ ...config, maxSamples: 16 }), 5000, gaps);
        const t1 = s.lastHeartbeatMs! + d1;
        const t2 = t1 + extra;
        assert.ok(P.phi(s, t1) <= P.phi(s, t2), `phi(${t1}) = ${P.phi(s, t1)} > phi(${t2}) = ${P.phi(s, t2)}`);
      },
    ),
    500,
  );
});

test('jittered arrivals with the same mean take longer to suspect than regular ones', () => {
  check(
    fc.property(fc.array(fc.integer({ min: 150, max: 450 }), { minLength: 20, maxLength: 60 }), (jitters) => {
      // ± pairs keep the mean at exactly 1000 ms while widening the spread past the 100 ms floor
      const gaps = jitters.flatMap((j) => [1000 + j, 1000 - j]);
      const steady = feed(P.init(), 0, regular(gaps.length));
      const jittered = feed(P.init(), 0, gaps);
      const wait = (s: P.PhiState): number => P.suspectAtMs(s)! - s.lastHeartbeatMs!;
      assert.ok(wait(jittered) > wait(steady), `${wait(jittered)} ≤ ${wait(steady)}`);
      assert.ok(firstSuspectMs(jittered, 8, 5) - jittered.lastHeartbeatMs! > firstSuspectMs(steady, 8, 5) - steady.lastHeartbeatMs!);
    }),
    50,
  );
});

test('the exponential model ignores jitter and follows elapsed / (mean · ln 10)', () => {
  const s = feed(P.init({ distribution: 'exponential' }), 0, [800, 1200, 900, 1100]);
  const last = s.lastHeartbeatMs!;
  // the window holds the two seeded samples (750, 1250) and the four gaps: mean 1000
  assert.ok(Math.abs(P.mean(s) - 1000) < 1e-9);
  assert.ok(Math.abs(P.phi(s, last + 2000) - 2000 / (1000 * Math.LN10)) < 1e-12);
});

test('first-heartbeat estimate: phi is meaningful from the first heartbeat', () => {
  const s = P.heartbeat(P.init({ firstHeartbeatEstimateMs: 1000 }), 42);
  assert.is(s.count, 2);
  assert.ok(Math.abs(P.mean(s) - 1000) < 1e-9);
  assert.ok(Math.abs(Math.sqrt(P.variance(s)) - 250) < 1e-9);
  assert.ok(P.isAvailable(s, 42 + 1000));
  assert.not.ok(P.isAvailable(s, 42 + 3000));
});

test('law: the running mean and variance equal those recomputed from the window', () => {
  check(
    fc.property(fc.integer({ min: 2, max: 12 }), fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 60 }), (maxSamples, gaps) => {
      const s = feed(P.init({ maxSamples }), 0, gaps);
      // the window is the last maxSamples of: the two seeded samples, then the gaps
      const all = [750, 1250, ...gaps];
      const window = all.slice(Math.max(0, all.length - maxSamples));
      assert.is(s.count, window.length);
      const m = window.reduce((x, y) => x + y, 0) / window.length;
      const v = window.reduce((x, y) => x + (y - m) ** 2, 0) / window.length;
      assert.ok(Math.abs(P.mean(s) - m) <= 1e-9 * Math.max(1, m), `mean ${P.mean(s)} vs ${m}`);
      assert.ok(Math.abs(P.variance(s) - v) <= 1e-6 * Math.max(1, m * m), `variance ${P.variance(s)} vs ${v}`);
    }),
    300,
  );
});

test('heartbeat leaves the old state untouched; a clock step back records no interval', () => {
  const s1 = feed(P.init({ maxSamples: 4 }), 0, [1000, 1000]);
  const copy = Array.from(s1.intervals);
  const s2 = P.heartbeat(s1, 3000);
  assert.equal(Array.from(s1.intervals), copy);
  assert.is(s1.count, 4);
  assert.is(s2.lastHeartbeatMs, 3000);
  const back = P.heartbeat(s2, 2500);
  assert.is(back.count, s2.count);
  assert.is(back.sum, s2.sum);
  assert.is(back.lastHeartbeatMs, 2500);
});

test('invalid configurations are refused with a reason', () => {
  assert.is(P.invalidConfig(P.defaultConfig), null);
  assert.match(P.invalidConfig({ ...P.defaultConfig, threshold: 0 })!, /threshold/);
  assert.match(P.invalidConfig({ ...P.defaultConfig, maxSamples: 1 })!, /maxSamples/);
  assert.match(P.invalidConfig({ ...P.defaultConfig, minStdDeviationMs: 0 })!, /minStdDeviationMs/);
  assert.match(P.invalidConfig({ ...P.defaultConfig, acceptableHeartbeatPauseMs: -1 })!, /acceptable/);
  assert.match(P.invalidConfig({ ...P.defaultConfig, firstHeartbeatEstimateMs: NaN })!, /firstHeartbeat/);
  assert.throws(() => P.init({ maxSamples: 0 }), RangeError);
});

// ---------------------------------------------------------------------------
// suspicion

const step = P.suspicion({ maxConsecutiveFailures: 3, threshold: 8 });
const after = (events: readonly P.SuspicionEvent[]): P.Suspicion => events.reduce(step, P.healthy);
const fail: P.SuspicionEvent = { type: 'requestFailed' };
const ok: P.SuspicionEvent = { type: 'requestSucceeded' };
const beat: P.SuspicionEvent = { type: 'heartbeat' };

test('suspicion: K consecutive request failures mark the peer down; a fresh heartbeat brings it up', () => {
  assert.is(after([fail, fail]).down, false);
  const down = after([fail, fail, fail]);
  assert.equal(down, { down: true, reason: 'failures', consecutiveFailures: 3 });
  assert.is(step(down, ok).down, true, 'a success is not proof of recovery');
  assert.equal(step(down, beat), P.healthy);
});

test('suspicion: failures must be consecutive', () => {
  assert.is(after([fail, fail, ok, fail, fail]).down, false);
  assert.is(after([fail, fail, ok, fail, fail, fail]).down, true);
});

test('suspicion: phi at or over the threshold marks the peer down, below it changes nothing', () => {
  assert.is(step(P.healthy, { type: 'phi', phi: 7.99 }), P.healthy);
  assert.equal(step(P.healthy, { type: 'phi', phi: 8 }), { down: true, reason: 'phi', consecutiveFailures: 0 });
  const down = step(P.healthy, { type: 'phi', phi: 12 });
  assert.is(step(down, { type: 'phi', phi: 0.1 }).down, true, 'only a heartbeat brings it back');
  assert.is(step(down, beat).down, false);
});

test('suspicion follows the detector end to end: silence → down, heartbeat → up', () => {
  let detector = feed(P.init(), 0, regular(50));
  let health = P.healthy;
  const last = detector.lastHeartbeatMs!;
  for (let t = last; t <= last + 5000; t += 100) health = step(health, { type: 'phi', phi: P.phi(detector, t) });
  assert.equal(health.reason, 'phi');
  detector = P.heartbeat(detector, last + 5000);
  health = step(health, beat);
  assert.is(health.down, false);
  assert.ok(P.isAvailable(detector, last + 5100));
});

test('law: a down peer stays down under any events but heartbeats', () => {
  check(
    fc.property(
      fc.array(fc.oneof(fc.constant(fail), fc.constant(ok), fc.double({ min: 0, max: 20, noNaN: true }).map((phi) => ({ type: 'phi' as const, phi }))), {
        maxLength: 30,
      }),
      (events) => {
        const s = events.reduce(step, after([fail, fail, fail]));
        assert.is(s.down, true);
      },
    ),
  );
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import { createRng, fnvHash64Mod } from '../../bench/ycsb/random.js';
import { InsertCounter, latest, scrambledZipfian, uniform, zeta, ZipfianGenerator } from '../../bench/ycsb/generators.js';
import { invalidWorkload, opChooser, WORKLOADS, type OpKind } from '../../bench/ycsb/workloads.js';
import { delayMs, dueBy, globalIndex, intendedTimeMs, latencyMs, workerIntendedMs } from '../../bench/ycsb/schedule.js';

const counts = (n: number, draws: number, next: () => number): number[] => {
  const c = new Array<number>(n).fill(0);
  for (let i = 0; i < draws; i++) c[next()]!++;
  return c;
};

test('the PRNG repeats its sequence for a seed and differs between seeds', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const sa = Array.from({ length: 50 }, () => a.next());
  assert.equal(Array.from({ length: 50 }, () => b.next()), sa);
  assert.not.equal(Array.from({ length: 50 }, () => c.next()), sa);
  assert.ok(sa.every((x) => x >= 0 && x < 1));
});

test('rng.int stays in range', () => {
  check(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 1_000_000 }), (seed, n) => {
      const r = createRng(seed);
      for (let i = 0; i < 100; i++) {
        const v = r.int(n);
        if (!(Number.isInteger(v) && v >= 0 && v < n)) return false;
      }
      return true;
    }),
    50,
  );
});

test('fnvHash64Mod is FNV-1a 64 of the value bytes, reduced mod n (BigInt reference)', () => {
  const ref = (v: number, n: number): number => {
    let h = 0xcbf29ce484222325n;
    let x = BigInt(v);
    for (let i = 0; i < 8; i++) {
      h ^= x & 0xffn;
      x >>= 8n;
      h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    }
    return Number(h % BigInt(n));
  };
  check(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 1, max: 2 ** 26 }), (v, n) => fnvHash64Mod(v, n) === ref(v, n)),
    300,
  );
});

test('zipfian: rank frequencies follow 1/(r+1)^0.99 at the head', () => {
  const n = 1000;
  const draws = 200_000;
  const gen = new ZipfianGenerator(n);
  const rng = createRng(7);
  const c = counts(n, draws, () => gen.next(rng));
  const z = zeta(0, n, 0.99);
  // Ranks 0 and 1 are sampled exactly by the algorithm; allow 5% sampling noise.
  for (const r of [0, 1]) {
    const expected = draws / Math.pow(r + 1, 0.99) / z;
    assert.ok(Math.abs(c[r]! - expected) / expected < 0.05, `rank ${r}: ${c[r]} vs ${expected.toFixed(0)}`);
  }
  // Strongly skewed: the top 1% of ranks draw far more than 1% of requests.
  const top10 = c.slice(0, 10).reduce((a, b) => a + b, 0);
  assert.ok(top10 / draws > 0.35, `top 10 of 1000 ranks drew ${((top10 / draws) * 100).toFixed(1)}%`);
  assert.ok(c[0]! > c[10]! && c[10]! > c[500]!, 'popularity falls with rank');
});

test('zipfian: growing the item count covers the new items', () => {
  const gen = new ZipfianGenerator(10);
  const rng = createRng(1);
  let maxSeen = 0;
  for (let i = 0; i < 20_000; i++) maxSeen = Math.max(maxSeen, gen.next(rng, 20));
  assert.is(gen.itemCount, 20);
  assert.ok(maxSeen >= 10 && maxSeen < 20, `max rank ${maxSeen}`);
});

test('scrambled zipfian: in range, skewed, hot keys scattered, reproducible', () => {
  const n = 10_000;
  const draws = 100_000;
  const ch = scrambledZipfian(n);
  const rng = createRng(3);
  const c = counts(n, draws, () => {
    const k = ch.next(rng);
    assert.ok(Number.isInteger(k) && k >= 0 && k < n);
    return k;
  });
  const sorted = [...c].sort((a, b) => b - a);
  // Uniform would give 10 per key; the hottest key gets far more.
  assert.ok(sorted[0]! > 50 * (draws / n), `hottest key drew ${sorted[0]}`);
  // The hottest keys are not simply the first records.
  const hottest = c.indexOf(sorted[0]!);
  const second = c.indexOf(sorted[1]!);
  assert.ok(hottest > 1 || second > 1, 'the most popular keys are hashed away from records 0 and 1');
  const again = scrambledZipfian(n);
  const r1 = createRng(9);
  const r2 = createRng(9);
  assert.equal(
    Array.from({ length: 100 }, () => ch.next(r1)),
    Array.from({ length: 100 }, () => again.next(r2)),
  );
});

test('uniform: every bucket near its share', () => {
  const n = 1000;
  const draws = 100_000;
  const ch = uniform(n);
  const rng = createRng(5);
  const c = counts(n, draws, () => ch.next(rng));
  const buckets = Array.from({ length: 10 }, (_, b) => c.slice(b * 100, b * 100 + 100).reduce((x, y) => x + y, 0));
  for (const b of buckets) assert.ok(Math.abs(b - draws / 10) < draws / 10 / 10, `bucket ${b}`);
});

test('insert counter: the limit advances only over contiguous acknowledged inserts', () => {
  const c = new InsertCounter(100);
  const a = c.take();
  const b = c.take();
  const d = c.take();
  assert.equal([a, b, d], [100, 101, 102]);
  c.acknowledge(b);
  assert.is(c.limit, 100, 'a gap at 100 holds the limit');
  c.acknowledge(a);
  assert.is(c.limit, 102);
  c.acknowledge(d);
  assert.is(c.limit, 103);
});

test('latest: the newest records are the most popular and only existing records are chosen', () => {
  const counter = new InsertCounter(1000);
  const ch = latest(counter);
  const rng = createRng(11);
  const c = counts(1000, 50_000, () => ch.next(rng));
  assert.is(c.indexOf(Math.max(...c)), 999, 'the last record is the hottest');
  assert.ok(c[999]! > c[990]! && c[990]! > c[500]!);
  // After more inserts complete, the new keys are chosen and the hot spot moves with them.
  for (let i = 0; i < 10; i++) counter.acknowledge(counter.take());
  let newest = 0;
  let outside = 0;
  for (let i = 0; i < 20_000; i++) {
    const k = ch.next(rng);
    if (k === 1009) newest++;
    if (k < 0 || k >= 1010) outside++;
  }
  assert.is(outside, 0);
  assert.ok(newest > 20_000 * 0.05, `record 1009 drew ${newest}`);
});

test('workload op mixes come out in their proportions', () => {
  const draws = 100_000;
  for (const w of Object.values(WORKLOADS)) {
    const next = opChooser(w.mix);
    const rng = createRng(13);
    const seen = new Map<OpKind, number>();
    for (let i = 0; i < draws; i++) {
      const k = next(rng);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    for (const [k, share] of Object.entries(w.mix) as [OpKind, number][]) {
      const got = (seen.get(k) ?? 0) / draws;
      assert.ok(Math.abs(got - share) < 0.01, `workload ${w.name} ${k}: ${got} vs ${share}`);
    }
    for (const k of seen.keys()) assert.ok((w.mix[k] ?? 0) > 0, `workload ${w.name} drew ${k}`);
  }
});

test('op mixes that do not sum to 1 are refused; E and unknown workloads say why', () => {
  assert.throws(() => opChooser({ read: 0.5, update: 0.4 }), /sum to 1/);
  assert.match(invalidWorkload('e') ?? '', /scan/);
  assert.match(invalidWorkload('z') ?? '', /unknown workload/);
  assert.is(invalidWorkload('A'), undefined);
});

test('open loop: every global op is scheduled once, evenly spaced at the target rate', () => {
  check(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 100_000 }), (workers, rate) => {
      const seen = new Set<number>();
      for (let w = 0; w < workers; w++) for (let k = 0; k < 10; k++) seen.add(globalIndex(w, k, workers));
      if (seen.size !== workers * 10) return false;
      for (let i = 0; i < workers * 10; i++) if (!seen.has(i)) return false;
      // Consecutive global ops are 1000/rate ms apart, whichever workers send them.
      const t = (i: number) => workerIntendedMs(500, i % workers, Math.floor(i / workers), workers, rate);
      for (let i = 1; i < workers * 10; i++) if (Math.abs(t(i) - t(i - 1) - 1000 / rate) > 1e-9) return false;
      return t(0) === 500;
    }),
    100,
  );
  assert.is(intendedTimeMs(0, 2000, 1000), 2000);
  assert.is(dueBy(2500, 1000), 2500);
  assert.is(dueBy(999, 1), 0);
});

test('open loop latency counts from the intended time, closed loop from the send', () => {
  // Intended at 100, the generator was late and sent at 130, the reply came at 135.
  assert.is(latencyMs(100, 130, 135, true), 35);
  assert.is(latencyMs(100, 130, 135, false), 5);
  assert.is(delayMs(100, 90), 10);
  assert.is(delayMs(100, 130), 0);
});

test.run();

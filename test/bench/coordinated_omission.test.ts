/**
 * The driver's claim about coordinated omission, checked against a fake
 * target that answers at once except for one stall: every request that
 * arrives during the stall waits for its end (a GC pause, an fsync, a lost
 * leader). A closed loop stops sending while its workers wait, so only the
 * requests already in flight see the stall and the percentiles hide it; the
 * open loop keeps its schedule and times requests from their intended send,
 * so everything due during the stall shows it in the high percentiles.
 * Bounds are fractions of the stall, never a wall-clock limit on the test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { setImmediate as immediate } from 'node:timers/promises';
import { runPhase } from '../../bench/ycsb/runner.js';
import type { Target } from '../../bench/ycsb/targets.js';
import { WORKLOADS } from '../../bench/ycsb/workloads.js';

const STALL_AT_MS = 400;
const STALL_MS = 300;

/** Answers on the next turn of the event loop, except during one stall STALL_AT_MS after its first request. */
const stallingTarget = (): Target & { stalls: () => number } => {
  let first: number | undefined;
  let stallUntil = -1;
  let stalls = 0;
  const op = async (): Promise<void> => {
    const now = performance.now();
    first ??= now;
    if (stalls === 0 && now - first >= STALL_AT_MS) {
      stalls = 1;
      stallUntil = now + STALL_MS;
    }
    if (now < stallUntil) await new Promise((r) => setTimeout(r, stallUntil - now));
    else await immediate();
  };
  return {
    name: 'fake',
    description: 'stalls once',
    serverPids: [],
    read: async () => {
      await op();
      return true;
    },
    update: op,
    insert: op,
    readModifyWrite: op,
    counters: () => ({}),
    close: async () => {},
    stalls: () => stalls,
  };
};

const run = (ratePerSec: number | undefined) => {
  const target = stallingTarget();
  return runPhase(target, {
    workload: WORKLOADS['c']!,
    distribution: 'uniform',
    records: 100,
    valueBytes: 10,
    concurrency: 8,
    durationMs: 1200,
    warmupMs: 0,
    ratePerSec,
    seed: 1,
    progress: () => {},
  }).then((r) => ({ r, stalls: target.stalls() }));
};

test('closed loop: only the requests in flight see the stall, so p99 hides it (coordinated omission)', async () => {
  const { r, stalls } = await run(undefined);
  assert.is(stalls, 1);
  const l = r.latency.read!;
  // Precondition for the p99 claim: far more than 100 × 8 requests, of which at most 8 waited for the stall.
  assert.ok(l.count > 100 * 8, `only ${l.count} requests in the run`);
  assert.ok(l.maxUs >= STALL_MS * 1000 * 0.8, `max ${l.maxUs} µs: the stall itself is recorded once per worker`);
  assert.ok(l.p99Us < (STALL_MS * 1000) / 2, `p99 ${l.p99Us} µs`);
});

test('open loop: latency from the intended send time puts the stall in the high percentiles', async () => {
  const rate = 1000;
  const { r, stalls } = await run(rate);
  assert.is(stalls, 1);
  const l = r.latency.read!;
  // About STALL_MS × rate / 1000 = 300 of the 1200 scheduled requests were due during the stall, waiting 0..300 ms:
  // over 10% of all requests waited more than half the stall, so p99 is well inside it.
  assert.ok(l.count >= 1000, `${l.count} requests measured`);
  assert.ok(l.p99Us >= (STALL_MS * 1000) / 2, `p99 ${l.p99Us} µs`);
  assert.ok(l.maxUs >= STALL_MS * 1000 * 0.8, `max ${l.maxUs} µs`);
  // Every request of the schedule was sent: none were dropped to make the numbers look better.
  assert.is(r.unsent, 0);
});

test.run();

import { test } from 'uvu';
import { LoopStats } from '../../src/node/loop_stats.js';
import * as assert from 'uvu/assert';
import { NodeStats } from '../../src/node/stats.js';

test('percentiles come from the recorded latencies', () => {
  const s = new NodeStats(0);
  for (let i = 1; i <= 1000; i++) s.record('get', i);
  const snap = s.snapshot(5) as { uptimeMs: number; ops: Record<string, number>; latency: Record<string, { p50Us: number; p999Us: number; maxUs: number; count: number }> };
  assert.is(snap.uptimeMs, 5);
  assert.is(snap.ops['get'], 1000);
  const get = snap.latency['get']!;
  assert.is(get.count, 1000);
  assert.ok(Math.abs(get.p50Us - 500) <= 1);
  assert.ok(Math.abs(get.p999Us - 999) <= 1);
  assert.is(get.maxUs, 1000);
  assert.is(snap.latency['put'], undefined, 'ops never seen are left out');
});

test('ops per second is the mean over the ticked window', () => {
  const s = new NodeStats(0);
  for (let sec = 0; sec < 12; sec++) {
    for (let i = 0; i < (sec < 2 ? 1000 : 100); i++) s.record('put', 10);
    s.tick();
  }
  assert.is((s.snapshot(0) as { opsPerSec: number }).opsPerSec, 100, 'only the last 10 s count');
});

test('errors, counters and gauges are reported; reset clears counts', () => {
  const s = new NodeStats(0);
  s.error('KV_TIMEOUT');
  s.error('KV_TIMEOUT');
  s.add('readRepairs', 3);
  let open = 2;
  s.gauge('connections', () => open);
  open = 4;
  const snap = s.snapshot(0) as { errors: Record<string, number>; counters: Record<string, number>; gauges: Record<string, number> };
  assert.equal(snap.errors, { KV_TIMEOUT: 2 });
  assert.equal(snap.counters, { readRepairs: 3 });
  assert.equal(snap.gauges, { connections: 4 });
  s.reset();
  assert.equal((s.snapshot(0) as { errors: object }).errors, {});
});

test('event-loop stats: a blocked loop shows as delay and utilization in the next window', async () => {
  const loop = new LoopStats();
  try {
    assert.equal(loop.window(), { delayP50Ms: 0, delayP99Ms: 0, delayMaxMs: 0, utilization: 0 }, 'zeros before the first window');
    await new Promise((r) => setTimeout(r, 50)); // let the monitor's timer run
    const until = performance.now() + 80;
    while (performance.now() < until); // block the loop for 80 ms
    await new Promise((r) => setTimeout(r, 30));
    loop.roll();
    const w = loop.window();
    // The 80 ms block delays the monitor's 10 ms timer by at least ~70 ms (more on a busy machine, never less).
    assert.ok(w.delayMaxMs >= 60, `max delay ${w.delayMaxMs} ms`);
    assert.ok(w.utilization > 0.3 && w.utilization <= 1, `utilization ${w.utilization}`);
    loop.roll();
    assert.ok(loop.window().delayMaxMs < w.delayMaxMs || loop.window().delayMaxMs === 0, 'a new window starts empty of the old block');
  } finally {
    loop.stop();
  }
});

test.run();

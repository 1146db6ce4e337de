import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import { escapeXml, fmtUsShort, niceCeil, renderChart } from '../../bench/ycsb/chart.js';
import { cellOf, halfPeakRate, MATRIX_TARGETS, summaryMarkdown, targetRatios, type Cell } from '../../bench/ycsb/matrix.js';
import type { PhaseResult } from '../../bench/ycsb/runner.js';

const cell = (targetId: string, workload: string, opsPerSec: number, p999Us: number, extra: Partial<Cell> = {}): Cell => ({
  targetId,
  workload,
  opsPerSec,
  opsPerSecByKind: { read: opsPerSec / 2, update: opsPerSec / 2 },
  p999Us,
  p50Us: p999Us / 10,
  errors: 0,
  file: `${targetId}-${workload}.json`,
  ...extra,
});

const phase = (latency: PhaseResult['latency'], elapsedMs: number): PhaseResult => ({
  ops: Object.values(latency).reduce((a, l) => a + l!.count, 0),
  errors: 0,
  elapsedMs,
  opsPerSec: Math.round((Object.values(latency).reduce((a, l) => a + l!.count, 0) * 1000) / elapsedMs),
  latency,
  perSecond: [],
  serverCpuUsPerOp: undefined,
  clientCpuUsPerOp: undefined,
});

const stats = (count: number, p999Us: number) => ({ count, p50Us: 100, p90Us: 200, p99Us: 300, p999Us, maxUs: p999Us * 2, meanUs: 120, errors: 0, notFound: 0 });

test('cellOf: per-kind rates over the measured window, worst p99.9 over the kinds', () => {
  const c = cellOf('ringkv-3', 'a', phase({ read: stats(3000, 900), update: stats(1000, 4000) }, 2000), 'f.json');
  assert.equal(c.opsPerSecByKind, { read: 1500, update: 500 });
  assert.is(c.opsPerSec, 2000);
  assert.is(c.p999Us, 4000);
  assert.is(c.ratePerSec, undefined);
  assert.is(cellOf('x', 'a', phase({ read: stats(10, 5) }, 1000), 'g.json', 70).ratePerSec, 70);
});

test('target ratios: computed from the same run, met or not, and "not measured" when a side is missing', () => {
  const cells = [
    cell('ringkv-3', 'a', 30_000, 3000),
    cell('redis', 'a', 50_000, 1000),
    cell('ringkv-3', 'c', 20_000, 3000),
    cell('redis', 'c', 50_000, 1000),
    cell('ringkv-3-always', 'a', 4000, 9000, { opsPerSecByKind: { read: 2000, update: 2000 } }),
    cell('ringkv-3', 'a', 15_000, 4200, { ratePerSec: 15_000 }),
  ];
  const r = targetRatios(cells);
  assert.is(r.length, 4);
  assert.is(r[0]!.value, 0.6);
  assert.is(r[0]!.met, true);
  assert.is(r[1]!.value, 0.4);
  assert.is(r[1]!.met, false);
  // No etcd in this run: the write ratio is not measured, never reported as met or failed.
  assert.is(r[2]!.value, undefined);
  assert.is(r[2]!.met, undefined);
  assert.is(r[3]!.value, 4200);
  assert.is(r[3]!.met, true);
  const withEtcd = targetRatios([...cells, cell('etcd', 'a', 600, 90_000, { opsPerSecByKind: { read: 300, update: 300 } })]);
  assert.is(withEtcd[2]!.value, 6.67);
  assert.is(withEtcd[2]!.met, false);
  // The open-loop cell is not mistaken for the closed-loop peak.
  assert.is(halfPeakRate(cells[0]!), 15_000);
});

test('data-size ratio: the largest record count over the smallest, only when both ran', () => {
  const one = [cell('scale-10000', 'c', 40_000, 1000)];
  assert.not.ok(targetRatios(one).some((r) => r.name.includes('records')));
  const r = targetRatios([...one, cell('scale-1000000', 'c', 36_000, 1500), cell('scale-100000', 'c', 1, 1)]).find((x) => x.name.includes('records'))!;
  assert.match(r.name, /1000000 records ÷ 10000 records/);
  assert.is(r.value, 0.9);
  assert.is(r.met, true);
});

test('summary markdown: one row per target run, workloads as columns, the ratios and what was skipped', () => {
  const cells = [cell('ringkv-1', 'a', 25_000, 2500, { serverCpuUsPerOp: 29.6, clientCpuUsPerOp: 12 }), cell('ringkv-1', 'c', 40_000, 1500), cell('redis', 'a', 60_000, 900)];
  const md = summaryMarkdown({ date: 'D', machine: 'M', versions: 'V', setup: 'S' }, MATRIX_TARGETS, ['a', 'c'], cells, targetRatios(cells), ['etcd 3 nodes (not installed)']);
  const [main, cpu] = md.split('CPU per operation');
  const rows = main!.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| target'));
  assert.is(rows.length, 2);
  assert.match(cpu!, /\| ringkv 1 node \| 30 \+ 12 \| – \+ – \|/);
  assert.match(rows[0]!, /^\| ringkv 1 node \| 25\.0k \| 2\.50 ms \| 40\.0k \| 1\.50 ms \|$/);
  assert.match(rows[1]!, /^\| Redis 1 node \| 60\.0k \| 900 µs \| – \| – \|$/);
  assert.match(md, /Not run: etcd 3 nodes \(not installed\)\./);
  assert.match(md, /workload A writes\/s: – \(goal ≥ 10×, not measured/);
});

test('chart: one bar per (target, workload) cell in each panel, heights follow the values', () => {
  const cells = [cell('ringkv-1', 'a', 20_000, 2000), cell('ringkv-1', 'c', 40_000, 1000), cell('redis', 'a', 80_000, 500), cell('ringkv-3', 'a', 10_000, 4000, { ratePerSec: 10_000 })];
  const svg = renderChart({ title: 'T <&>', subtitle: ['s1', 's2'], targets: MATRIX_TARGETS, workloads: ['a', 'c'], cells });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(svg.includes('T &lt;&amp;&gt;'), 'the title is escaped');
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>([^<]+)<\/title>/g)].map((m) => ({ y: Number(m[1]), h: Number(m[2]), title: m[3]! }));
  // 3 closed-loop cells × 2 panels; the open-loop cell is not a bar, and a target without closed-loop runs has no legend entry.
  assert.is(bars.length, 6);
  assert.not.ok(svg.includes('ringkv 3 nodes N3R2W2'));
  const h = (title: string) => bars.find((b) => b.title === title)!.h;
  // Linear throughput panel: 80k is 4× 20k.
  assert.ok(Math.abs(h('Redis 1 node, workload A: 80.0k') / h('ringkv 1 node, workload A: 20.0k') - 4) < 0.01);
  // Log latency panel: each factor of 2 adds the same height.
  const a = h('Redis 1 node, workload A: 500 µs');
  const b = h('ringkv 1 node, workload C: 1.00 ms');
  const c = h('ringkv 1 node, workload A: 2.00 ms');
  assert.ok(a < b && b < c);
  assert.ok(Math.abs(c - b - (b - a)) < 0.5);
});

test('chart: no cells still renders a valid empty chart', () => {
  const svg = renderChart({ title: 'empty', subtitle: [], targets: MATRIX_TARGETS, workloads: ['a'], cells: [] });
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.not.ok(svg.includes('NaN'));
  assert.not.ok(svg.includes('Infinity'));
});

test('chart: coordinates stay finite and bars non-negative for any values', () => {
  check(
    fc.property(fc.array(fc.tuple(fc.constantFrom('ringkv-1', 'redis', 'etcd'), fc.constantFrom('a', 'c'), fc.nat(10_000_000), fc.nat(60_000_000)), { maxLength: 12 }), (raw) => {
      const svg = renderChart({ title: 't', subtitle: ['s'], targets: MATRIX_TARGETS, workloads: ['a', 'c'], cells: raw.map(([t, w, ops, p]) => cell(t, w, ops, p)) });
      if (svg.includes('NaN') || svg.includes('Infinity')) return false;
      return [...svg.matchAll(/height="(-?[\d.]+)"/g)].every((m) => Number(m[1]) >= 0);
    }),
    100,
  );
});

test('niceCeil, fmtUsShort and escapeXml', () => {
  assert.equal([87, 2090, 54_830, 308_220].map(fmtUsShort), ['87 µs', '2.09 ms', '54.8 ms', '308 ms']);
  assert.equal([0, 1, 3, 7, 12, 20, 99, 101, 45_000].map(niceCeil), [1, 1, 3, 8, 12, 20, 100, 120, 50_000]);
  assert.is(escapeXml(`a<b>&"'`), 'a&lt;b&gt;&amp;&quot;&apos;');
});

test.run();

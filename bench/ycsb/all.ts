/**
 * `npm run bench:all`: the standard YCSB matrix of issue 8 in one run.
 *
 *   workloads A, B, C, F × { ringkv 1 node, ringkv 3 nodes N3R2W2 (log, durability none),
 *                            ringkv 3 nodes durability always, Redis, etcd 3 nodes }
 *
 * (every target is started and loaded first, then each workload runs on the
 * targets in turn), plus one open-loop run of ringkv 3 nodes on workload A at half its
 * closed-loop peak (the p99.9-at-50%-load target), and the data-size check
 * (workload C on a fresh 1-node ringkv with 10k, then 1M records). Each
 * target is loaded once and runs every workload with the same seed
 * (same key and operation sequence for every target); Redis and etcd are
 * skipped with a note when their binaries are absent. Prints the ratios the
 * issue sets as targets, writes every run's JSON and ycsb.md row as
 * `npm run bench` does, the summary to bench/results/ycsb-all.{json,md} and
 * the chart to bench/results/ycsb-all.svg.
 *
 * Options: --records N (20000), --value-bytes B (1000), --concurrency C (50),
 * --duration-ms D (10000), --warmup-ms W (2000), --targets id,id (see
 * MATRIX_TARGETS), --workloads a,b,c,f, --no-open-loop, --no-scale (skip the
 * data-size check), --scale-records 10000,1000000, --scale-value-bytes 100,
 * --quick (2000 records, 2.5 s runs, no data-size check: a smoke test).
 */
import { reexecCompiled } from '../lib/compiled.js';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { flag } from '../lib/args.js';
import { fmtRate, fmtUs } from '../lib/latency.js';
import { mainWithDeadline } from '../lib/procs.js';
import { renderChart } from './chart.js';
import { cellOf, halfPeakRate, MATRIX_TARGETS, MATRIX_WORKLOADS, peakCell, ratioLines, scaleId, SCALE_RECORDS, summaryMarkdown, targetRatios, type Cell, type MatrixTarget } from './matrix.js';
import type { DriverOptions } from './options.js';
import { printPhase, resultsDir, saveRun } from './results.js';
import { loadPhase, runPhase, type PhaseResult } from './runner.js';
import { openTarget, TargetUnavailable, type Target } from './targets.js';
import { invalidWorkload, WORKLOADS } from './workloads.js';

const intFlag = (name: string, fallback: number, min: number): number => {
  const v = flag(name);
  if (v === undefined) return fallback;
  if (v === true || !/^\d+$/.test(v) || Number(v) < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return Number(v);
};

const listFlag = (name: string, all: readonly string[]): string[] => {
  const v = flag(name);
  if (v === undefined || v === true) return [...all];
  const list = v.split(',').map((x) => x.trim().toLowerCase());
  for (const x of list) if (!all.includes(x)) throw new Error(`--${name}: '${x}' is not one of ${all.join(', ')}`);
  return list;
};

const version = (bin: string, args: readonly string[], re: RegExp): string => {
  try {
    return re.exec(execFileSync(bin, [...args], { encoding: 'utf8', timeout: 5000 }))?.[1] ?? 'absent';
  } catch {
    return 'absent';
  }
};

const counterDelta = (before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): Record<string, number> => {
  const out: Record<string, number> = {};
  // maxSiblings is a high-water mark, not a count: keep it as is.
  for (const [k, v] of Object.entries(after)) out[k] = k.startsWith('max') ? v : v - (before[k] ?? 0);
  return out;
};

const main = async (): Promise<number> => {
  const quick = flag('quick') === true;
  const records = intFlag('records', quick ? 2000 : 20_000, 1);
  const valueBytes = intFlag('value-bytes', 1000, 0);
  const concurrency = intFlag('concurrency', 50, 1);
  const durationMs = intFlag('duration-ms', quick ? 2500 : 10_000, 100);
  const warmupMs = intFlag('warmup-ms', quick ? 500 : 2000, 0);
  if (warmupMs >= durationMs) throw new Error('--warmup-ms must be shorter than --duration-ms');
  const targetIds = listFlag('targets', MATRIX_TARGETS.map((t) => t.id));
  const workloads = listFlag('workloads', MATRIX_WORKLOADS);
  for (const w of workloads) if (invalidWorkload(w) !== undefined) throw new Error(invalidWorkload(w));
  const openLoop = flag('no-open-loop') === undefined;
  const scale = flag('no-scale') === undefined && (!quick || flag('scale-records') !== undefined);
  const scaleValueBytes = intFlag('scale-value-bytes', 100, 0);
  const scaleRecords = (() => {
    const v = flag('scale-records');
    if (v === undefined || v === true) return [...SCALE_RECORDS];
    const list = v.split(',').map(Number);
    if (list.length < 2 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--scale-records wants two or more record counts, e.g. 10000,1000000');
    return list;
  })();
  const targets = MATRIX_TARGETS.filter((t) => targetIds.includes(t.id));
  const t0 = performance.now();
  const started = new Date().toISOString();
  const versions = `node ${process.version}, redis-server ${version('redis-server', ['--version'], /v=(\S+)/)}, etcd ${version('etcd', ['--version'], /etcd Version:\s*(\S+)/)}, ringkv ${(() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })()}`;
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, load average ${loadavg()[0]!.toFixed(2)} at start`;
  const setup = `${records} records × ${valueBytes} B, ${concurrency} clients in flight, ${durationMs / 1000} s per run (${warmupMs / 1000} s warm-up), scrambled zipfian 0.99`;
  console.log(`bench:all ${started}\n  ${machine}\n  ${versions}\n  ${setup}\n  targets: ${targets.map((t) => t.label).join(', ')}; workloads ${workloads.join(', ').toUpperCase()}`);

  const baseOptions = (mt: MatrixTarget, workload: string): DriverOptions => ({
    workload,
    target: mt.target,
    nodes: mt.nodes,
    replication: mt.replication,
    backend: mt.backend,
    durability: mt.durability,
    records,
    valueBytes,
    concurrency,
    durationMs,
    warmupMs,
    ratePerSec: undefined,
    distribution: WORKLOADS[workload]!.distribution,
    connections: 1,
    seed: 1,
    load: false,
    label: `bench:all ${started.slice(0, 19)}Z ${mt.id}`,
    quick,
  });
  const cells: Cell[] = [];
  const skipped: string[] = [];
  const progress = (l: string) => console.error(l);
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s into the run`;
  // Every target is started and loaded first, then each workload runs on every target in turn: a burst of
  // outside load on the shared machine then hits neighbouring runs of all targets alike, which keeps the ratios honest.
  const live: { readonly mt: MatrixTarget; readonly target: Target }[] = [];
  const drop = async (mt: MatrixTarget, e: unknown): Promise<void> => {
    console.log(`${mt.label}: stopped by an error: ${(e as Error).message}`);
    skipped.push(`${mt.label} (error: ${(e as Error).message.split('\n')[0]})`);
    const i = live.findIndex((l) => l.mt.id === mt.id);
    if (i >= 0) await live.splice(i, 1)[0]!.target.close();
  };
  try {
    for (const mt of targets) {
      console.log(`\n=== start and load ${mt.label} (${elapsed()})`);
      let target: Target;
      try {
        target = await openTarget(mt.target, { nodes: mt.nodes, backend: mt.backend, durability: mt.durability, connections: 1, ...(mt.replication ? { replication: mt.replication } : {}) });
      } catch (e) {
        const why = e instanceof TargetUnavailable ? e.message : `failed to start: ${(e as Error).message.split('\n')[0]}`;
        console.log(`skipped: ${why}`);
        skipped.push(`${mt.label} (${why.split('\n')[0]})`);
        continue;
      }
      live.push({ mt, target });
      console.log(`target: ${target.description}`);
      try {
        printPhase(`load ${mt.label}`, await loadPhase(target, { records, valueBytes, concurrency, seed: 1, progress }));
      } catch (e) {
        await drop(mt, e);
      }
    }
    const measure = async (mt: MatrixTarget, target: Target, workload: string, ratePerSec?: number): Promise<void> => {
      const before = target.counters();
      const o: DriverOptions = { ...baseOptions(mt, workload), ratePerSec };
      const run = await runPhase(target, { workload: WORKLOADS[workload]!, distribution: o.distribution, records, valueBytes, concurrency, durationMs, warmupMs, ratePerSec, seed: 1, progress });
      printPhase(`${mt.label}, workload ${workload.toUpperCase()}${ratePerSec === undefined ? '' : ` open loop at ${ratePerSec}/s`}`, run);
      const saved = saveRun(o, target.description, undefined, run, counterDelta(before, target.counters()), mt.id);
      cells.push(cellOf(mt.id, workload, run, saved.file, ratePerSec));
    };
    for (const w of workloads) {
      console.log(`\n=== workload ${w.toUpperCase()} (${elapsed()})`);
      for (const { mt, target } of [...live]) {
        try {
          await measure(mt, target, w);
          if (w === 'a' && mt.id === 'ringkv-3' && openLoop) await measure(mt, target, 'a', halfPeakRate(peakCell(cells, mt.id, 'a')!));
        } catch (e) {
          await drop(mt, e);
        }
      }
    }
  } finally {
    await Promise.all(live.map((l) => l.target.close()));
  }

  if (scale) {
    // Fresh node per size: the large run must not find the small run's data warm in memory.
    for (const n of scaleRecords) {
      const id = scaleId(n);
      console.log(`\n=== data size: ringkv 1 node, workload C, ${n} records × ${scaleValueBytes} B (${elapsed()})`);
      let target: Target;
      try {
        target = await openTarget('ringkv', { nodes: 1, backend: 'log', durability: 'none', connections: 1 });
      } catch (e) {
        skipped.push(`data size ${n} (${(e as Error).message.split('\n')[0]})`);
        continue;
      }
      try {
        const load = await loadPhase(target, { records: n, valueBytes: scaleValueBytes, concurrency, seed: 1, progress });
        printPhase(`load ${n} records`, load);
        const o: DriverOptions = { ...baseOptions(MATRIX_TARGETS[0]!, 'c'), records: n, valueBytes: scaleValueBytes, label: `bench:all ${started.slice(0, 19)}Z ${id}` };
        const run = await runPhase(target, { workload: WORKLOADS['c']!, distribution: o.distribution, records: n, valueBytes: scaleValueBytes, concurrency, durationMs, warmupMs, ratePerSec: undefined, seed: 1, progress });
        printPhase(`${n} records, workload C`, run);
        const saved = saveRun(o, target.description, load, run, target.counters(), id);
        cells.push(cellOf(id, 'c', run, saved.file));
      } catch (e) {
        skipped.push(`data size ${n} (error: ${(e as Error).message.split('\n')[0]})`);
      } finally {
        await target.close();
      }
    }
  }

  const ratios = targetRatios(cells);
  const elapsedS = Math.round((performance.now() - t0) / 1000);
  const header = { date: started.slice(0, 16).replace('T', ' ') + ' UTC', machine, versions, setup: `${setup}; whole matrix ${elapsedS} s` };
  const md = summaryMarkdown(header, MATRIX_TARGETS, workloads, cells, ratios, skipped);
  writeFileSync(join(resultsDir, 'ycsb-all.md'), md);
  writeFileSync(join(resultsDir, 'ycsb-all.json'), JSON.stringify({ ...header, elapsedS, targets: MATRIX_TARGETS, workloads, cells, ratios, skipped }, null, 2) + '\n');
  writeFileSync(
    join(resultsDir, 'ycsb-all.svg'),
    renderChart({ title: `ringkv YCSB matrix, ${header.date}`, subtitle: [setup, `${machine}; ${versions}`], targets: MATRIX_TARGETS, workloads, cells }),
  );
  console.log(`\n${md}`);
  console.log('Ratios:');
  for (const l of ratioLines(ratios)) console.log(`  ${l}`);
  console.log(`\nwhole matrix: ${elapsedS} s; wrote bench/results/ycsb-all.{md,json,svg} and one JSON per run (rows appended to bench/results/ycsb.md)`);
  const worst = cells.reduce((a, c) => Math.max(a, c.p999Us), 0);
  if (cells.length > 0) console.log(`(largest p99.9 of the matrix: ${fmtUs(worst)}; highest throughput: ${fmtRate(Math.max(...cells.map((c) => c.opsPerSec)))} ops/s)`);
  return 0;
};

// Bound the whole matrix: a wedged target must not hold the shared machine.
reexecCompiled(import.meta.url);
mainWithDeadline('bench:all', 1_200_000, main, (e) => {
  console.error(`bench:all: ${(e as Error).message}`);
  return 2;
});

/**
 * Where a YCSB run's numbers go: the console (while and after it runs),
 * `bench/results/ycsb-<workload>-<target>-<time>.json` (every number) and a
 * row appended to `bench/results/ycsb.md`. Shared by the one-run driver and
 * the matrix so that both leave the same trail.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fmtRate, fmtUs } from '../lib/latency.js';
import { repoRoot } from '../lib/procs.js';
import type { DriverOptions } from './options.js';
import type { PhaseResult } from './runner.js';
import { OP_KINDS, WORKLOADS } from './workloads.js';

export const resultsDir = join(repoRoot, 'bench/results');

export const modeText = (ratePerSec: number | undefined): string => (ratePerSec === undefined ? 'closed loop' : `open loop ${ratePerSec}/s`);

const latencyCells = (r: PhaseResult): string =>
  OP_KINDS.filter((k) => r.latency[k] !== undefined)
    .map((k) => {
      const l = r.latency[k]!;
      return `${k} ${fmtUs(l.p50Us)}/${fmtUs(l.p99Us)}/${fmtUs(l.p999Us)}`;
    })
    .join('; ');

export const printPhase = (name: string, r: PhaseResult): void => {
  console.log(`\n${name}: ${r.ops} ops in ${(r.elapsedMs / 1000).toFixed(1)} s = ${fmtRate(r.opsPerSec)} ops/s, ${r.errors} errors${r.firstError ? ` (first: ${r.firstError})` : ''}`);
  if (r.serverCpuUsPerOp !== undefined || r.clientCpuUsPerOp !== undefined) {
    console.log(`  CPU per op: server ${r.serverCpuUsPerOp ?? '–'} µs, bench process ${r.clientCpuUsPerOp ?? '–'} µs`);
  }
  if (r.behindAtEnd !== undefined) console.log(`  open loop: ${r.behindAtEnd} ops behind schedule at the end, ${r.unsent ?? 0} never sent`);
  console.log('  op        count      p50       p90       p99     p99.9       max  errors  not-found');
  for (const k of OP_KINDS) {
    const l = r.latency[k];
    if (l === undefined) continue;
    console.log(
      `  ${k.padEnd(7)} ${String(l.count).padStart(7)} ${[l.p50Us, l.p90Us, l.p99Us, l.p999Us, l.maxUs].map((v) => fmtUs(v).padStart(9)).join(' ')} ${String(l.errors).padStart(7)} ${String(l.notFound).padStart(10)}`,
    );
  }
  console.log(`  per second: ${r.perSecond.join(' ')}`);
};

const MD_HEADER = [
  '# YCSB-style runs',
  '',
  'One row per run of `npm run bench` (bench/ycsb/main.ts); the JSON file beside each row has every number. Latency cells are p50/p99/p99.9 per operation. Runs on a shared, noisy 2-core machine: compare rows from the same session (ratios), not across days.',
  '',
  '| date | workload | target | setup | records × value | concurrency | mode | ops/s | latency p50/p99/p99.9 | CPU/op server, bench | errors | label |',
  '|---|---|---|---|---|---:|---|---:|---|---|---:|---|',
].join('\n');

export interface SavedRun {
  readonly date: string;
  readonly file: string;
}

/** Writes the run's JSON file and appends its row to ycsb.md; returns the file name (under bench/results/). */
export const saveRun = (
  o: DriverOptions,
  targetDescription: string,
  load: PhaseResult | undefined,
  run: PhaseResult,
  counters: Readonly<Record<string, number>>,
  /** Names the target in the file name when `o.target` alone is ambiguous (bench:all's three ringkv set-ups). */
  tag: string = o.target,
): SavedRun => {
  const date = new Date().toISOString();
  mkdirSync(resultsDir, { recursive: true });
  const mode = o.ratePerSec === undefined ? '' : '-open';
  const file = `ycsb-${o.workload}-${tag}${mode}-${date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(join(resultsDir, file), JSON.stringify({ date, cpus: cpus().length, loadAvg: loadavg()[0], options: o, target: targetDescription, load: load ?? null, run, counters }, null, 2) + '\n');
  const md = join(resultsDir, 'ycsb.md');
  if (!existsSync(md)) writeFileSync(md, MD_HEADER + '\n');
  const cpu = `${run.serverCpuUsPerOp ?? '–'} µs, ${run.clientCpuUsPerOp ?? '–'} µs`;
  appendFileSync(
    md,
    `| ${date.slice(0, 19)}Z | ${WORKLOADS[o.workload]!.name.toUpperCase()} ${o.distribution} | ${o.target} | ${targetDescription} | ${o.records} × ${o.valueBytes} B | ${o.concurrency} | ${modeText(o.ratePerSec)} | ${fmtRate(run.opsPerSec)} | ${latencyCells(run)} | ${cpu} | ${run.errors} | ${o.label.replace(/\|/g, '/')} |\n`,
  );
  return { date, file };
};

/**
 * The standard matrix of `npm run bench:all` and what is computed from its
 * results: the targets' ratios of issue 8 and the summary table. Pure (no
 * I/O, no clock), so the ratios and the table are unit-tested.
 */
import { fmtRate, fmtUs } from '../lib/latency.js';
import type { PhaseResult } from './runner.js';
import type { TargetName } from './targets.js';

export interface MatrixTarget {
  /** Stable id used in file names, the chart and ratios. */
  readonly id: string;
  /** Short label for tables and the chart legend. */
  readonly label: string;
  readonly target: TargetName;
  readonly nodes: number;
  readonly replication?: { readonly n: number; readonly r: number; readonly w: number };
  readonly backend: string;
  readonly durability: 'none' | 'interval' | 'always';
}

/**
 * ringkv runs on the log backend (the storage it ships for durable data):
 * durability `none` where the issue says so, `always` (fsync before every
 * acknowledgement) to compare with etcd, which fsyncs every commit.
 */
export const MATRIX_TARGETS: readonly MatrixTarget[] = [
  { id: 'ringkv-1', label: 'ringkv 1 node', target: 'ringkv', nodes: 1, backend: 'log', durability: 'none' },
  { id: 'ringkv-3', label: 'ringkv 3 nodes N3R2W2', target: 'ringkv', nodes: 3, replication: { n: 3, r: 2, w: 2 }, backend: 'log', durability: 'none' },
  { id: 'ringkv-3-always', label: 'ringkv 3 nodes always', target: 'ringkv', nodes: 3, replication: { n: 3, r: 2, w: 2 }, backend: 'log', durability: 'always' },
  { id: 'redis', label: 'Redis 1 node', target: 'redis', nodes: 1, backend: 'memory', durability: 'none' },
  { id: 'etcd', label: 'etcd 3 nodes', target: 'etcd', nodes: 3, backend: 'memory', durability: 'always' },
];

export const MATRIX_WORKLOADS: readonly string[] = ['a', 'b', 'c', 'f'];

/**
 * The data-size check: ringkv 1 node, workload C, small and large record
 * counts (fresh node each). Cells get the target id `scale-<records>`.
 */
export const SCALE_RECORDS: readonly [number, number] = [10_000, 1_000_000];
export const scaleId = (records: number): string => `scale-${records}`;
const scaleRecords = (c: Cell): number => Number(c.targetId.slice('scale-'.length));

/** One measured run of the matrix. */
export interface Cell {
  readonly targetId: string;
  readonly workload: string;
  /** Open-loop rate, undefined for the closed-loop (peak) runs. */
  readonly ratePerSec?: number;
  readonly opsPerSec: number;
  /** Operations per second per op kind in the measured window. */
  readonly opsPerSecByKind: Readonly<Record<string, number>>;
  /** The worst p99.9 over the run's op kinds (µs). */
  readonly p999Us: number;
  readonly p50Us: number;
  readonly errors: number;
  /** CPU µs per operation of all server processes and of the bench process (undefined: not measurable). */
  readonly serverCpuUsPerOp?: number;
  readonly clientCpuUsPerOp?: number;
  /** The per-run JSON file under bench/results/. */
  readonly file: string;
}

export const cellOf = (targetId: string, workload: string, run: PhaseResult, file: string, ratePerSec?: number): Cell => {
  const kinds = Object.entries(run.latency);
  const byKind: Record<string, number> = {};
  for (const [k, l] of kinds) byKind[k] = Math.round((l!.count * 1000) / Math.max(1, run.elapsedMs));
  return {
    targetId,
    workload,
    ...(ratePerSec === undefined ? {} : { ratePerSec }),
    opsPerSec: run.opsPerSec,
    opsPerSecByKind: byKind,
    p999Us: Math.max(0, ...kinds.map(([, l]) => l!.p999Us)),
    p50Us: Math.max(0, ...kinds.map(([, l]) => l!.p50Us)),
    errors: run.errors,
    ...(run.serverCpuUsPerOp === undefined ? {} : { serverCpuUsPerOp: run.serverCpuUsPerOp }),
    ...(run.clientCpuUsPerOp === undefined ? {} : { clientCpuUsPerOp: run.clientCpuUsPerOp }),
    file,
  };
};

/** The closed-loop cell of a target and workload (undefined when not run). */
export const peakCell = (cells: readonly Cell[], targetId: string, workload: string): Cell | undefined =>
  cells.find((c) => c.targetId === targetId && c.workload === workload && c.ratePerSec === undefined);

/** Half of the closed-loop peak, the open-loop rate for the latency target (at least 1 op/s). */
export const halfPeakRate = (peak: Cell): number => Math.max(1, Math.round(peak.opsPerSec / 2));

export interface Ratio {
  readonly name: string;
  /** The measured value (a ratio, or µs for the latency target); undefined when a side was not run. */
  readonly value: number | undefined;
  readonly goal: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

const ratio = (name: string, num: number | undefined, den: number | undefined, atLeast: number, detail: string): Ratio => {
  const value = num === undefined || den === undefined || den === 0 ? undefined : Math.round((num / den) * 100) / 100;
  return { name, value, goal: `≥ ${atLeast}×`, met: value === undefined ? undefined : value >= atLeast, detail };
};

/** The targets of issue 8, computed from one matrix run. */
export const targetRatios = (cells: readonly Cell[]): Ratio[] => {
  const out: Ratio[] = [];
  for (const w of ['a', 'c']) {
    const k = peakCell(cells, 'ringkv-3', w);
    const r = peakCell(cells, 'redis', w);
    out.push(
      ratio(`ringkv 3 nodes ÷ Redis, workload ${w.toUpperCase()} ops/s`, k?.opsPerSec, r?.opsPerSec, 0.5, `${k ? fmtRate(k.opsPerSec) : '–'} vs ${r ? fmtRate(r.opsPerSec) : '–'} ops/s`),
    );
  }
  const ka = peakCell(cells, 'ringkv-3-always', 'a')?.opsPerSecByKind['update'];
  const ea = peakCell(cells, 'etcd', 'a')?.opsPerSecByKind['update'];
  out.push(ratio('ringkv 3 nodes always ÷ etcd 3 nodes, workload A writes/s', ka, ea, 10, `${ka === undefined ? '–' : fmtRate(ka)} vs ${ea === undefined ? '–' : fmtRate(ea)} writes/s`));
  // The data-size check: the largest record count against the smallest one run.
  const scale = cells.filter((c) => c.targetId.startsWith('scale-') && c.ratePerSec === undefined).sort((a, b) => scaleRecords(a) - scaleRecords(b));
  if (scale.length >= 2) {
    const s = scale[0]!;
    const l = scale[scale.length - 1]!;
    out.push(ratio(`ringkv 1 node, workload ${l.workload.toUpperCase()}, ${scaleRecords(l)} records ÷ ${scaleRecords(s)} records ops/s`, l.opsPerSec, s.opsPerSec, 0.85, `${fmtRate(l.opsPerSec)} vs ${fmtRate(s.opsPerSec)} ops/s`));
  }
  const open = cells.find((c) => c.targetId === 'ringkv-3' && c.ratePerSec !== undefined);
  out.push({
    name: `ringkv 3 nodes p99.9 at 50% of peak (open loop, workload ${open ? open.workload.toUpperCase() : 'A'})`,
    value: open?.p999Us,
    goal: '≤ 5 ms',
    met: open === undefined ? undefined : open.p999Us <= 5000,
    detail: open === undefined ? 'not run' : `${fmtUs(open.p999Us)} at ${open.ratePerSec} ops/s`,
  });
  return out;
};

const ratioValueText = (r: Ratio): string => (r.value === undefined ? '–' : r.goal.startsWith('≤') ? fmtUs(r.value) : `${r.value}×`);
const metText = (m: boolean | undefined): string => (m === undefined ? 'not measured' : m ? 'met' : 'NOT met');

export const ratioLines = (ratios: readonly Ratio[]): string[] => ratios.map((r) => `${r.name}: ${ratioValueText(r)} (goal ${r.goal}, ${metText(r.met)}; ${r.detail})`);

export interface MatrixHeader {
  readonly date: string;
  readonly machine: string;
  readonly versions: string;
  readonly setup: string;
}

/** The summary markdown: one row per target, per workload ops/s and p99.9, then the ratios. */
export const summaryMarkdown = (h: MatrixHeader, targets: readonly MatrixTarget[], workloads: readonly string[], cells: readonly Cell[], ratios: readonly Ratio[], skipped: readonly string[]): string => {
  const lines = [
    `# bench:all — ${h.date}`,
    '',
    `Machine: ${h.machine}. Versions: ${h.versions}. Setup: ${h.setup}.`,
    '',
    `| target | ${workloads.map((w) => `${w.toUpperCase()} ops/s | ${w.toUpperCase()} p99.9`).join(' | ')} |`,
    `|---|${workloads.map(() => '---:|---:').join('|')}|`,
  ];
  for (const t of targets) {
    if (!cells.some((c) => c.targetId === t.id)) continue;
    const row = workloads.map((w) => {
      const c = peakCell(cells, t.id, w);
      return c === undefined ? '– | –' : `${fmtRate(c.opsPerSec)}${c.errors > 0 ? ` (${c.errors} err)` : ''} | ${fmtUs(c.p999Us)}`;
    });
    lines.push(`| ${t.label} | ${row.join(' | ')} |`);
  }
  lines.push(
    '',
    'CPU per operation, server processes + bench process (µs; what an operation costs whatever else runs on the machine):',
    '',
    `| target | ${workloads.map((w) => w.toUpperCase()).join(' | ')} |`,
    `|---|${workloads.map(() => '---:').join('|')}|`,
  );
  const us = (v: number | undefined): string => (v === undefined ? '–' : String(Math.round(v)));
  for (const t of targets) {
    if (!cells.some((c) => c.targetId === t.id)) continue;
    lines.push(`| ${t.label} | ${workloads.map((w) => {
      const c = peakCell(cells, t.id, w);
      return c === undefined ? '–' : `${us(c.serverCpuUsPerOp)} + ${us(c.clientCpuUsPerOp)}`;
    }).join(' | ')} |`);
  }
  for (const c of cells.filter((x) => x.ratePerSec !== undefined)) {
    const t = targets.find((x) => x.id === c.targetId);
    lines.push('', `Open loop, ${t?.label ?? c.targetId}, workload ${c.workload.toUpperCase()} at ${c.ratePerSec} ops/s (half the closed-loop peak): ${fmtRate(c.opsPerSec)} ops/s done, p50 ${fmtUs(c.p50Us)}, p99.9 ${fmtUs(c.p999Us)}.`);
  }
  for (const c of cells.filter((x) => x.targetId.startsWith('scale-'))) {
    lines.push('', `Data size, ringkv 1 node, workload ${c.workload.toUpperCase()} with ${c.targetId.slice('scale-'.length)} records: ${fmtRate(c.opsPerSec)} ops/s, p99.9 ${fmtUs(c.p999Us)}.`);
  }
  lines.push('', 'Targets (issue 8), same run:', '', ...ratioLines(ratios).map((l) => `- ${l}`));
  if (skipped.length > 0) lines.push('', 'Not run: ' + skipped.join('; ') + '.');
  return lines.join('\n') + '\n';
};

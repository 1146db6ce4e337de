/**
 * The bench:all chart as a hand-written SVG (no charting dependency): two
 * grouped bar panels, throughput (linear) and p99.9 latency (log scale, the
 * targets differ by orders of magnitude), one group per workload and one bar
 * per target. Pure: results in, SVG text out.
 */
import { fmtRate, fmtUs } from '../lib/latency.js';
import { peakCell, type Cell } from './matrix.js';

export interface ChartInput {
  readonly title: string;
  /** Lines under the title (set-up, machine, versions). */
  readonly subtitle: readonly string[];
  readonly targets: readonly { readonly id: string; readonly label: string }[];
  readonly workloads: readonly string[];
  readonly cells: readonly Cell[];
}

// Colour-blind-safe palette (Okabe–Ito), one per target in matrix order.
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

export const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** The smallest of 1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8 × 10^k at or above `v`: an axis top whose quarters read well; 1 for v ≤ 0. */
export const niceCeil = (v: number): number => {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10]) if (m * p >= v * (1 - 1e-12)) return Number((m * p).toPrecision(6));
  return 10 * p;
};

/** Latency labels narrow enough for a bar: 3 significant digits (`308 ms`, `54.8 ms`, `2.09 ms`, `87 µs`). */
export const fmtUsShort = (us: number): string => (us >= 100_000 ? `${Math.round(us / 1000)} ms` : us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : fmtUs(us));

const W = 960;
const LEFT = 80;
const RIGHT = 20;
const PANEL_H = 240;

interface Panel {
  readonly title: string;
  readonly top: number;
  readonly value: (c: Cell) => number;
  readonly label: (v: number) => string;
  readonly log: boolean;
}

export const renderChart = (input: ChartInput): string => {
  const targets = input.targets.filter((t) => input.cells.some((c) => c.targetId === t.id && c.ratePerSec === undefined));
  const workloads = input.workloads;
  const out: string[] = [];
  const legendTop = 50 + input.subtitle.length * 14;
  const panels: Panel[] = [
    { title: 'Throughput, ops/s (closed loop, higher is better)', top: legendTop + 40, value: (c) => c.opsPerSec, label: fmtRate, log: false },
    { title: 'p99.9 latency, worst op kind (closed loop, log scale, lower is better)', top: legendTop + 40 + PANEL_H + 50, value: (c) => c.p999Us, label: fmtUsShort, log: true },
  ];
  const height = panels[1]!.top + PANEL_H + 40;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">`);
  out.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="18" font-weight="bold">${escapeXml(input.title)}</text>`);
  input.subtitle.forEach((line, i) => out.push(`<text x="${W / 2}" y="${42 + i * 14}" text-anchor="middle" font-size="11" fill="#444">${escapeXml(line)}</text>`));
  targets.forEach((t, i) => {
    const x = LEFT + i * ((W - LEFT - RIGHT) / Math.max(1, targets.length));
    out.push(`<rect x="${x}" y="${legendTop}" width="12" height="12" fill="${COLOURS[i % COLOURS.length]}"/>`);
    out.push(`<text x="${x + 16}" y="${legendTop + 10}" font-size="12">${escapeXml(t.label)}</text>`);
  });
  const plotW = W - LEFT - RIGHT;
  const groupW = plotW / Math.max(1, workloads.length);
  const barW = Math.max(4, Math.min(40, (groupW * 0.8) / Math.max(1, targets.length)));
  for (const p of panels) {
    const values = targets.flatMap((t) => workloads.map((w) => peakCell(input.cells, t.id, w)).filter((c): c is Cell => c !== undefined).map(p.value));
    const maxV = Math.max(0, ...values);
    const bottom = p.top + PANEL_H;
    let y: (v: number) => number;
    const ticks: number[] = [];
    if (p.log) {
      const lo = Math.pow(10, Math.floor(Math.log10(Math.max(1, Math.min(...values.filter((v) => v > 0), maxV || 1)))));
      const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(lo * 10, maxV))));
      y = (v) => bottom - (Math.log10(Math.min(hi, Math.max(lo, v)) / lo) / Math.log10(hi / lo)) * PANEL_H;
      for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
    } else {
      const top = niceCeil(maxV);
      y = (v) => bottom - (Math.max(0, v) / top) * PANEL_H;
      for (let i = 0; i <= 4; i++) ticks.push((top * i) / 4);
    }
    out.push(`<text x="${LEFT}" y="${p.top - 10}" font-size="13" font-weight="bold">${escapeXml(p.title)}</text>`);
    for (const t of ticks) {
      const ty = y(t).toFixed(1);
      out.push(`<line x1="${LEFT}" y1="${ty}" x2="${W - RIGHT}" y2="${ty}" stroke="#ddd"/>`);
      out.push(`<text x="${LEFT - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle" font-size="10">${escapeXml(p.label(t))}</text>`);
    }
    out.push(`<line x1="${LEFT}" y1="${bottom}" x2="${W - RIGHT}" y2="${bottom}" stroke="#000"/>`);
    workloads.forEach((w, gi) => {
      const gx = LEFT + gi * groupW + (groupW - barW * targets.length) / 2;
      out.push(`<text x="${(LEFT + gi * groupW + groupW / 2).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" font-size="12">workload ${escapeXml(w.toUpperCase())}</text>`);
      targets.forEach((t, ti) => {
        const c = peakCell(input.cells, t.id, w);
        if (c === undefined) return;
        const v = p.value(c);
        const x = gx + ti * barW;
        const top = y(v);
        out.push(
          `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(bottom - top).toFixed(1)}" fill="${COLOURS[ti % COLOURS.length]}"><title>${escapeXml(`${t.label}, workload ${w.toUpperCase()}: ${p.label(v)}`)}</title></rect>`,
        );
        out.push(`<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${(top - 3).toFixed(1)}" text-anchor="middle" font-size="8">${escapeXml(p.label(v))}</text>`);
      });
    });
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
};

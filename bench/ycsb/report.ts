/**
 * `npm run bench:report`: renders the chart of the latest `npm run bench:all`
 * (bench/results/ycsb-all.json) to bench/results/ycsb-all.svg and prints its
 * summary and ratios again. bench:all renders the chart itself; this
 * re-renders it (after a chart change, or from another summary with
 * `--from <file.json> --out <file.svg>`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flag } from '../lib/args.js';
import { renderChart } from './chart.js';
import { ratioLines, summaryMarkdown, targetRatios, type Cell, type MatrixTarget } from './matrix.js';
import { resultsDir } from './results.js';

interface Summary {
  readonly date: string;
  readonly machine: string;
  readonly versions: string;
  readonly setup: string;
  readonly targets: readonly MatrixTarget[];
  readonly workloads: readonly string[];
  readonly cells: readonly Cell[];
  readonly skipped: readonly string[];
}

const from = flag('from');
const out = flag('out');
const src = typeof from === 'string' ? from : join(resultsDir, 'ycsb-all.json');
const dst = typeof out === 'string' ? out : join(resultsDir, 'ycsb-all.svg');
if (!existsSync(src)) {
  console.error(`bench:report: ${src} does not exist; run \`npm run bench:all\` first`);
  process.exit(3);
}
const s = JSON.parse(readFileSync(src, 'utf8')) as Summary;
const setup = s.setup.split('; whole matrix')[0]!;
writeFileSync(dst, renderChart({ title: `ringkv YCSB matrix, ${s.date}`, subtitle: [setup, `${s.machine}; ${s.versions}`], targets: s.targets, workloads: s.workloads, cells: s.cells }));
const ratios = targetRatios(s.cells);
console.log(summaryMarkdown(s, s.targets, s.workloads, s.cells, ratios, s.skipped));
for (const l of ratioLines(ratios)) console.log(l);
console.log(`\nwrote ${dst}`);

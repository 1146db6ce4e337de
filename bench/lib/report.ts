/**
 * Output for the benches: an aligned table on stdout, a markdown table and a
 * JSON file under bench/results/, each with the machine it ran on, so a
 * number never travels without its context.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './root.js';
import { execFileSync } from 'node:child_process';

export type Cell = string | number;
export type Row = readonly Cell[];

const resultsDir = join(repoRoot, 'bench', 'results');

const cellText = (c: Cell): string => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c);

/** An aligned plain-text table: text left, numbers right. */
export const textTable = (header: Row, rows: readonly Row[]): string => {
  const all = [header, ...rows].map((r) => r.map(cellText));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[], raw: Row): string =>
    r.map((c, i) => (typeof raw[i] === 'number' ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ');
  const out = [line(all[0] ?? [], header), widths.map((w) => '-'.repeat(w)).join('  ')];
  rows.forEach((raw, i) => out.push(line(all[i + 1] ?? [], raw)));
  return out.join('\n');
};

export const markdownTable = (header: Row, rows: readonly Row[]): string => {
  const line = (r: Row): string => `| ${r.map(cellText).join(' | ')} |`;
  return [line(header), `|${header.map((h, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map(line)].join('\n');
};

/** Where and when a result was measured. */
export const environment = (): Record<string, unknown> => {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout (e.g. an installed package): the commit stays unknown.
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemBytes: totalmem(),
    commit,
  };
};

/** Writes bench/results/<name>.json (and <name>.md when markdown is given); returns the paths. */
export const writeResults = (name: string, json: unknown, markdown?: string): string[] => {
  mkdirSync(resultsDir, { recursive: true });
  const paths = [join(resultsDir, `${name}.json`)];
  writeFileSync(paths[0] as string, JSON.stringify(json, null, 2) + '\n');
  if (markdown !== undefined) {
    const md = join(resultsDir, `${name}.md`);
    writeFileSync(md, markdown.endsWith('\n') ? markdown : markdown + '\n');
    paths.push(md);
  }
  return paths;
};

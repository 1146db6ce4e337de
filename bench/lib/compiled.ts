/**
 * `--compiled`: run a bench as plain JavaScript, as users run ringkv. The
 * sources are built (dist/ for the nodes, as `npm install` does, and
 * .bench-build/ for the bench with its own compiled copy of the SDK) and
 * the bench re-runs itself from .bench-build under plain `node`. Without it
 * a bench runs under tsx, and so does its load generator: measured here, a
 * loop of SDK GETs under `--import tsx` made 112k ops/s with a p99 of 6.9 ms
 * against 171k and 1.2 ms in plain node (the event loop stalled: delay p99
 * 9.4 ms vs 1.8 ms), which would be charged to the server.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './root.js';

/** True when this module was loaded from compiled JavaScript (not through tsx). */
export const isCompiledRun = (): boolean => import.meta.url.endsWith('.js');

/** How to start a Node process that runs `file` (a bench's own .ts or compiled .js). */
export const nodeArgsFor = (file: string): string[] => (file.endsWith('.ts') ? ['--import', 'tsx', file] : [file]);

/**
 * With `--compiled` on the command line and this bench running from its
 * TypeScript source: builds, runs the compiled bench with the same arguments
 * in plain node, and exits with its status (never returns). Otherwise
 * returns and the bench runs here.
 */
export const reexecCompiled = (benchUrl: string): void => {
  if (!process.argv.includes('--compiled') || !benchUrl.endsWith('.ts')) return;
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync('npm', ['run', '--silent', 'build:ts'], { cwd: repoRoot, stdio: 'inherit' });
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.bench.json'], { cwd: repoRoot, stdio: 'inherit' });
  const compiled = join(repoRoot, '.bench-build', relative(repoRoot, fileURLToPath(benchUrl)).replace(/\.ts$/, '.js'));
  const r = spawnSync(process.execPath, [compiled, ...process.argv.slice(2)], { cwd: repoRoot, stdio: 'inherit' });
  process.exit(r.status ?? 1);
};

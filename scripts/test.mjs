#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) under uvu + tsx, each in its own
// process (a crash in one file cannot hide the others), two at a time, and
// ends with the line CI reads: `N passed, N failed`. Exits non-zero on any
// failure, on a file that died without a summary, and on zero tests run.
//
//   node scripts/test.mjs [filter...]     only files whose path contains a filter
//   RINGKV_TEST_JOBS=1 node scripts/test.mjs
//   RINGKV_TEST_FILE_TIMEOUT_S=300   a file still running after this is killed
//                                    (with every process it started) and fails
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cpus } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const uvuBin = join(root, 'node_modules', 'uvu', 'bin.js');

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });

const filters = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .map((p) => relative(root, p))
  .filter((p) => filters.length === 0 || filters.some((f) => p.includes(f)))
  .sort();

const jobs = Math.max(1, Number(process.env.RINGKV_TEST_JOBS ?? Math.min(2, cpus().length)));
const seed = process.env.RINGKV_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`ringkv tests: ${files.length} files, ${jobs} at a time, RINGKV_SEED=${seed}`);

const fileTimeoutMs = 1000 * Number(process.env.RINGKV_TEST_FILE_TIMEOUT_S ?? 300);
// Each file runs in its own process group so a hung file can be ended together
// with the node processes it spawned, and so can everything on Ctrl-C.
const running = new Set();
const killGroup = (child) => {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
};
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of running) killGroup(child);
    process.exit(130);
  });
}

const runFile = (file) =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', uvuBin, '.', file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$'], {
      cwd: root,
      env: { ...process.env, RINGKV_SEED: seed, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(child);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, fileTimeoutMs);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (timedOut) out += `\nringkv tests: ${file} still running after ${fileTimeoutMs / 1000}s: killed (a hang is a failure)\n`;
      // uvu colours some summary lines even with FORCE_COLOR=0: strip the codes first.
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      const num = (label) => {
        const m = plain.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm'));
        return m ? Number(m[1]) : undefined;
      };
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped') ?? 0;
      let failed;
      if (total === undefined || passed === undefined) failed = 1; // died without a summary
      else failed = total - passed; // uvu's Total counts the tests that ran; skipped ones are not in it
      if ((code !== 0 || timedOut) && failed === 0) failed = 1;
      resolve({ file, code, signal, out, passed: passed ?? 0, failed, skipped, ms: Date.now() - started });
    });
  });

const results = [];
let next = 0;
const worker = async () => {
  while (next < files.length) {
    const file = files[next++];
    const r = await runFile(file);
    results.push(r);
    const status = r.failed > 0 ? 'FAIL' : 'ok  ';
    console.log(`${status} ${file}  (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)}s)`);
    if (r.failed > 0 || process.env.RINGKV_TEST_VERBOSE) {
      process.stdout.write(r.out.replace(/^/gm, '    | ') + '\n');
      if (r.signal) console.log(`    | process ended by ${r.signal}`);
    }
  }
};
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
const skipped = results.reduce((a, r) => a + r.skipped, 0);
if (passed + failed === 0) console.log('no tests ran');
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);

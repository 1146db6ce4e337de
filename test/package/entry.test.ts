/**
 * The package as a user installs it: plain Node (no tsx) resolves `ringkv`
 * and its subpaths through package.json `exports` to the compiled
 * JavaScript, with a declaration file beside each, and the `ringkv` bin runs.
 * Needs the build that `npm install` / `npm ci` runs (the `prepare` script).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../bench/lib/procs.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, { types?: string; default: string } | string>;
  bin: Record<string, string>;
};

/** What `import * as m from spec` exports, as seen by plain `node` from the package root (self-reference by name). */
const exportedNames = (spec: string): string[] => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `import * as m from ${JSON.stringify(spec)}; console.log(JSON.stringify(Object.keys(m)))`], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(out) as string[];
};

test("import { createClient } from 'ringkv' works in plain Node, as the README shows", () => {
  const names = exportedNames(pkg.name);
  for (const name of ['createClient', 'Client', 'ClientError', 'KvError', 'ErrorCodes', 'isKvError', 'exponentialBackoff']) {
    assert.ok(names.includes(name), `'ringkv' exports ${name} (it exports ${names.join(', ')})`);
  }
});

test('every exports entry points at built JavaScript with its types, and resolves', () => {
  for (const [sub, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    assert.ok(existsSync(join(repoRoot, target.default)), `${sub}: ${target.default} exists`);
    assert.ok(target.types !== undefined && existsSync(join(repoRoot, target.types)), `${sub}: types ${target.types} exist`);
    const spec = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
    assert.ok(exportedNames(spec).length > 0, `${spec} exports something`);
  }
});

test('the ringkv bin runs under plain node and prints its usage', () => {
  const bin = join(repoRoot, pkg.bin['ringkv']!);
  assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node'), 'the bin has a node shebang');
  const out = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.match(out, /usage: ringkv <command>/);
  assert.match(out, /start\s+run a node/);
});

test.run();

/**
 * The pure core (src/core/) imports nothing from the shell and reads no
 * clock, randomness, process state or I/O: time, randomness and hashes are
 * parameters. This test reads every source file under src/core and fails on
 * any import other than a relative one that stays inside src/core,
 * `fp-ts/lib/*.js` and `io-ts`, and on any mention (outside comments) of the
 * ambient effects listed in `forbidden`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const coreDir = join(root, 'src', 'core');

/** Ambient effects the core must not touch, with why. */
const forbidden: readonly (readonly [RegExp, string])[] = [
  [/\bDate\s*\.\s*now\b/, 'Date.now (time is a parameter)'],
  [/\bnew\s+Date\b/, 'new Date (time is a parameter)'],
  [/\bMath\s*\.\s*random\b/, 'Math.random (randomness is a Random parameter)'],
  [/\bperformance\s*\.\s*now\b/, 'performance.now (time is a parameter)'],
  [/\bprocess\s*\./, 'process. (no process state in the core)'],
  [/\bsetTimeout\b/, 'setTimeout (timers belong to the shell)'],
  [/\bsetInterval\b/, 'setInterval (timers belong to the shell)'],
  [/\bsetImmediate\b/, 'setImmediate (timers belong to the shell)'],
  [/\bqueueMicrotask\b/, 'queueMicrotask (scheduling belongs to the shell)'],
  [/\bBuffer\b/, 'Buffer (use Uint8Array; Buffer is Node-only)'],
  [/\bcrypto\s*\./, 'crypto. (randomness is a Random parameter)'],
  [/\bfetch\s*\(/, 'fetch (no I/O in the core)'],
  [/\bglobalThis\b/, 'globalThis (reaches ambient state)'],
  [/\brequire\s*\(/, 'require (imports are static ESM)'],
];

const builtins: ReadonlySet<string> = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]!]));

/** Removes comments but keeps strings (so '//' in a string is not taken as a comment). */
export const stripComments = (src: string): string => {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' '); // keep line numbers
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
};

/** Why an import specifier is not allowed in `file` (a path relative to the repo root), or null. */
export const badImport = (file: string, spec: string): string | null => {
  if (spec.startsWith('./') || spec.startsWith('../')) {
    const target = posix.normalize(posix.join(posix.dirname(file), spec));
    if (!target.startsWith('src/core/')) return `relative import leaves src/core: '${spec}'`;
    if (/native|addon|\.node$/.test(target)) return `imports the addon: '${spec}'`;
    return null;
  }
  if (/^fp-ts\/lib\/[A-Za-z0-9_]+\.js$/.test(spec)) return null;
  if (/^io-ts(\/lib\/[A-Za-z0-9_]+\.js)?$/.test(spec)) return null;
  if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0]!)) {
    return `imports a Node builtin: '${spec}'`;
  }
  if (spec.startsWith('fp-ts')) return `fp-ts must be imported as fp-ts/lib/X.js: '${spec}'`;
  return `imports a module outside the allowed set: '${spec}'`;
};

/** Every reason `source` (the text of `file`, relative to the repo root) is not pure. */
export const violations = (file: string, source: string): string[] => {
  const code = stripComments(source);
  const found: string[] = [];
  const line = (index: number): number => code.slice(0, index).split('\n').length;
  const specifiers = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /\bimport\s*(['"])([^'"]+)\1/g,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ];
  for (const re of specifiers) {
    for (const m of code.matchAll(re)) {
      const why = badImport(file, m[2]!);
      if (why !== null) found.push(`${file}:${line(m.index!)}: ${why}`);
    }
  }
  for (const m of code.matchAll(/\bimport\s*\(\s*[^'"\s)]/g)) {
    found.push(`${file}:${line(m.index!)}: dynamic import of a computed specifier`);
  }
  for (const [re, why] of forbidden) {
    const m = re.exec(code);
    if (m !== null) found.push(`${file}:${line(m.index)}: mentions ${why}`);
  }
  return found;
};

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mts|cts|js|mjs)$/.test(name) ? [p] : [];
  });

test('every source file under src/core is pure', () => {
  const files = walk(coreDir);
  assert.ok(files.length >= 4, `only ${files.length} files found under ${coreDir}`);
  const all = files.flatMap((p) => violations(relative(root, p).split('\\').join('/'), readFileSync(p, 'utf8')));
  assert.equal(all, [], `impure core:\n  ${all.join('\n  ')}`);
});

test('the barrel src/core/index.ts re-exports every core module', () => {
  const barrel = readFileSync(join(coreDir, 'index.ts'), 'utf8');
  const modules = readdirSync(coreDir).filter((n) => n.endsWith('.ts') && n !== 'index.ts');
  const missing = modules.filter((n) => !barrel.includes(`from './${n.replace(/\.ts$/, '.js')}'`));
  assert.equal(missing, [], `not re-exported from src/core/index.ts: ${missing.join(', ')}`);
});

const bad = (source: string, file = 'src/core/x.ts'): string[] => violations(file, source);

test('the checker refuses Node builtins, bare or with node:, and packages outside the allowed set', () => {
  for (const spec of ['node:fs', 'fs', 'net', 'os', 'path', 'crypto', 'child_process', 'worker_threads', 'fs/promises', 'node:timers/promises']) {
    assert.equal(bad(`import { x } from '${spec}';`).length, 1, spec);
  }
  assert.equal(bad(`import * as fs from "fs"`).length, 1);
  assert.equal(bad(`import 'net';`).length, 1, 'side-effect import');
  assert.equal(bad(`const m = await import('node:os');`).length, 1, 'dynamic import');
  assert.equal(bad(`const m = await import(name);`).length, 1, 'computed dynamic import');
  assert.equal(bad(`export { a } from 'lodash';`).length, 1, 're-export');
  assert.equal(bad(`import { pipe } from 'fp-ts/function';`).length, 1, 'fp-ts without /lib');
  assert.equal(bad(`import type { Socket } from 'node:net';`).length, 1, 'even a type-only import');
});

test('the checker refuses relative imports that leave src/core, and the addon', () => {
  assert.equal(bad(`import { KvError } from '../errors.js';`).length, 1);
  assert.equal(bad(`import { addon } from '../native/addon.js';`).length, 1);
  assert.equal(bad(`import { x } from './sub/../../storage/backend.js';`).length, 1);
  assert.equal(bad(`import { x } from './native_hash.js';`).length, 1, 'the addon by name, even inside core');
});

test('the checker refuses ambient effects: clock, randomness, process, timers, Buffer', () => {
  const effects = [
    'const t = Date.now();',
    'const t = new Date();',
    'const r = Math.random();',
    'const t = performance.now();',
    'const e = process.env.X;',
    'setTimeout(f, 10);',
    'const h = setInterval(f, 10);',
    'setImmediate(f);',
    'const b = Buffer.from([1]);',
    'const r = crypto.getRandomValues(new Uint8Array(4));',
    'const m = require("x");',
    'const g = globalThis;',
  ];
  for (const src of effects) assert.ok(bad(src).length >= 1, src);
});

test('the checker allows the pure core: relative imports inside core, fp-ts/lib, io-ts, comments that mention effects', () => {
  const ok = [
    `import * as E from 'fp-ts/lib/Either.js';`,
    `import { pipe } from 'fp-ts/lib/function.js';`,
    `import * as t from 'io-ts';`,
    `import type { NodeId } from './types.js';`,
    `export * as merkle from './merkle.js';`,
    `import { x } from '../core/ring.js';`,
    `// time comes in as a parameter, never from Date.now()\nconst f = (nowMs: number) => nowMs;`,
    `/* no setTimeout, no Buffer, no process.env here */ const u = new Uint8Array(8); const ab = new ArrayBuffer(8);`,
    `const s = 'http://example.com'; const dateNow = 1; const processed = 2;`,
  ];
  for (const src of ok) assert.equal(bad(src), [], src);
});

test('reported violations name the file and line', () => {
  assert.equal(bad(`const a = 1;\n\nconst t = Date.now();\n`, 'src/core/clock.ts'), [
    'src/core/clock.ts:3: mentions Date.now (time is a parameter)',
  ]);
});

test.run();

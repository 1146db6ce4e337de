/**
 * The cluster benchmark's load (N=3 R=2 W=2, 50/50 get/put of 100-byte
 * values, 50 in flight) with the three nodes and the SDK in ONE process, on
 * loopback TCP. What it measures is CPU time per op of the whole path
 * (client, coordinator, replicas, codec, storage) on one thread: on a box
 * shared with other work that figure holds up far better than the
 * multi-process `bench:cluster`, whose four processes wait for each other's
 * CPU slices (there CPU per op grows with the machine's load).
 *
 *   npm run bench:cluster-inproc [-- --trees DIR1,DIR2] [--rounds 10]
 *     [--window-ms 500] [--warmup-ms 3000] [--backend log] [--durability interval]
 *
 * `--trees` runs one cluster per ringkv source tree (default: this one; give
 * another git worktree, e.g. checked out at the commit before a change) in
 * the same process, and loads them in alternating windows: both see the same
 * machine load over the run, so their CPU per op compares A/B even when the
 * box is busy. A tree given as `DIR:dist` runs its compiled output (`npm run
 * build:ts` in it first; what `npm start` runs) instead of its sources under
 * tsx; `DIR#name=value;name=value` overrides node configuration (e.g.
 * `#syncIntervalMs=1000`, numbers parsed), so one tree can be compared with
 * itself under two settings. Nothing is written to bench/results (a
 * development tool).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { flag, numFlag, strFlag } from './lib/args.js';
import { getPutMix } from './lib/loadgen.js';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import type * as ClientModule from '../src/client/index.js';
import type * as ConfigModule from '../src/node/config.js';
import type * as NodeModule from '../src/node/node.js';

const num = numFlag;
const str = strFlag;

const warmupMs = num('warmup-ms', 3000);
const windowMs = num('window-ms', 500);
const rounds = num('rounds', 10);
const inflight = num('inflight', 50);
const keys = num('keys', 10_000);
const valueBytes = num('value-bytes', 100);
const getFraction = num('get-fraction', 0.5);
const backend = str('backend', 'log');
const durability = str('durability', 'interval') as 'none' | 'interval' | 'always';
const trees = str('trees', new URL('..', import.meta.url).pathname)
  .split(',')
  .map((t) => {
    const hash = t.indexOf('#');
    const spec = hash < 0 ? t : t.slice(0, hash);
    const rest = hash < 0 ? '' : t.slice(hash);
    return (spec.endsWith(':dist') ? `${resolve(spec.slice(0, -':dist'.length))}:dist` : resolve(spec)) + rest;
  });

const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(12, '0')}`);

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

interface Setup {
  readonly tree: string;
  readonly clients: readonly ClientModule.Client[];
  readonly close: () => Promise<void>;
  /** Runs the load for `ms`, then waits for what is in flight; returns the ops completed. */
  readonly window: (ms: number) => Promise<{ readonly ops: number; readonly errors: number }>;
}

/** Starts a 3-node cluster of the source tree at `tree` and its SDK clients, preloaded. */
const setUp = async (tree: string, seed: number): Promise<Setup> => {
  const hash = tree.indexOf('#');
  const spec = hash < 0 ? tree : tree.slice(0, hash);
  const overrides: Record<string, string | number> = {};
  for (const kv of hash < 0 ? [] : tree.slice(hash + 1).split(';')) {
    const [name, value] = kv.split('=');
    if (name === undefined || value === undefined || name === '') throw new Error(`bad override ${kv} in ${tree}`);
    overrides[name] = Number.isFinite(Number(value)) ? Number(value) : value;
  }
  const compiled = spec.endsWith(':dist');
  const root = compiled ? spec.slice(0, -':dist'.length) : spec;
  const load = async <T>(path: string): Promise<T> =>
    (await import(pathToFileURL(compiled ? join(root, 'dist', path.replace(/\.ts$/, '.js')) : join(root, path)).href)) as T;
  const { startNode } = await load<typeof NodeModule>('src/node/node.ts');
  const { defaultConfig } = await load<typeof ConfigModule>('src/node/config.ts');
  const { createClient } = await load<typeof ClientModule>('src/client/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-inproc-'));
  const nodes: NodeModule.RunningNode[] = [];
  const clients: ClientModule.Client[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.close()));
    for (const n of nodes) await n.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const base = { ...defaultConfig, backend, durability, port: 0, n: 3, r: 2, w: 2, ...overrides };
    nodes.push(await startNode({ ...base, dataDir: join(dir, 'n1'), nodeId: 'n1', cluster: true }));
    const seedAddress = `127.0.0.1:${nodes[0]!.port}`;
    for (const id of ['n2', 'n3']) nodes.push(await startNode({ ...base, dataDir: join(dir, id), nodeId: id, join: [seedAddress] }));
    for (const n of nodes) clients.push(createClient({ nodes: [`127.0.0.1:${n.port}`], timeoutMs: 5000 }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const seen = await Promise.all(clients.map((c) => c.stats().then((s) => s['cluster.members'] ?? 0, () => 0)));
      if (seen.every((m) => m === 3)) break;
      if (Date.now() > deadline) throw new Error('the cluster did not form within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await close();
    throw e;
  }
  const { preload, op } = getPutMix(clients, { keys, keyOf, valueBytes, getFraction, inflight, seed });
  await preload();
  const window = async (ms: number): Promise<{ ops: number; errors: number }> => {
    const stopAt = performance.now() + ms;
    let ops = 0;
    let errors = 0;
    const loop = async (i: number): Promise<void> => {
      while (performance.now() < stopAt) {
        try {
          await op(i);
          ops++;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, (_, i) => loop(i)));
    return { ops, errors };
  };
  return { tree, clients, close, window };
};

const main = async (): Promise<void> => {
  console.log(
    `bench:cluster-inproc  ${trees.length} tree(s), ${inflight} in flight, ${Math.round(getFraction * 100)}% get, ${valueBytes}-byte values, ${keys} keys, ` +
      `${warmupMs} ms warm-up each, ${rounds} rounds of ${windowMs} ms windows, backend ${backend}/${durability}, load ${loadavg()[0]!.toFixed(2)}`,
  );
  const setups: Setup[] = [];
  try {
    for (const [i, t] of trees.entries()) setups.push(await setUp(t, 1000 + 100 * i));
    for (const s of setups) await s.window(warmupMs);
    const totals = setups.map(() => ({ ops: 0, errors: 0, cpuUs: 0, wallMs: 0, gcMs: 0 }));
    // Garbage-collection pauses of the main thread, charged to the window they fall in.
    let gcMs = 0;
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcMs += e.duration;
    });
    gc.observe({ entryTypes: ['gc'] });
    for (let r = 0; r < rounds; r++) {
      // Alternate which tree goes first, so neither always follows the other's garbage.
      const order = r % 2 === 0 ? setups.map((_, i) => i) : setups.map((_, i) => setups.length - 1 - i);
      for (const i of order) {
        const c0 = cpuUs();
        const g0 = gcMs;
        const t0 = performance.now();
        const w = await setups[i]!.window(windowMs);
        const t = totals[i]!;
        t.cpuUs += cpuUs() - c0;
        t.wallMs += performance.now() - t0;
        t.ops += w.ops;
        t.errors += w.errors;
        t.gcMs += gcMs - g0;
      }
    }
    gc.disconnect();
    const first = totals[0]!;
    const firstCpu = first.ops > 0 ? first.cpuUs / first.ops : 0;
    totals.forEach((t, i) => {
      const cpuPerOp = t.ops > 0 ? t.cpuUs / t.ops : 0;
      const ratio = i > 0 && firstCpu > 0 ? `, ${(cpuPerOp / firstCpu).toFixed(3)}x the first tree's CPU/op` : '';
      console.log(
        `${setups[i]!.tree}: ${Math.round((t.ops * 1000) / t.wallMs)} ops/s, CPU ${cpuPerOp.toFixed(1)} µs/op (all three nodes and the client; GC pauses ${((t.gcMs * 1000) / Math.max(1, t.ops)).toFixed(1)}), errors ${t.errors}${ratio}`,
      );
    });
  } finally {
    for (const s of setups) await s.close();
  }
};

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

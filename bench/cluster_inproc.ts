/**
 * The cluster benchmark's load (N=3 R=2 W=2, 50/50 get/put of 100-byte
 * values, 50 in flight) with the three nodes and the SDK in ONE process, on
 * loopback TCP. What it measures is CPU time per op of the whole path
 * (client, coordinator, replicas, codec, storage), on one thread: on a box
 * shared with other work that figure holds up far better than the
 * multi-process `bench:cluster`, whose four processes wait for each other's
 * CPU slices (there CPU per op grows with the machine's load).
 *
 *   npm run bench:cluster-inproc [-- --duration-ms 4000] [--warmup-ms 3000]
 *     [--backend log] [--durability interval] [--tree DIR] [--runs 1]
 *
 * `--tree DIR` benchmarks the ringkv source tree at DIR (another git
 * worktree, e.g. the commit before a change) with this script's load, so a
 * change can be measured A/B: run both trees alternately and compare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { flag } from './lib/args.js';
import { closedLoop, forEachConcurrent } from './lib/loadgen.js';
import { fmtUs, summarize } from './lib/latency.js';
import { createRng } from './ycsb/random.js';
import type * as ClientModule from '../src/client/index.js';
import type * as ConfigModule from '../src/node/config.js';
import type * as NodeModule from '../src/node/node.js';

const num = (name: string, fallback: number): number => {
  const v = flag(name);
  if (v === undefined || v === true) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
  return n;
};
const str = (name: string, fallback: string): string => {
  const v = flag(name);
  return typeof v === 'string' ? v : fallback;
};

const durationMs = num('duration-ms', 4000);
const warmupMs = num('warmup-ms', 3000);
const inflight = num('inflight', 50);
const keys = num('keys', 10_000);
const valueBytes = num('value-bytes', 100);
const getFraction = num('get-fraction', 0.5);
const runs = num('runs', 1);
const backend = str('backend', 'log');
const durability = str('durability', 'interval') as 'none' | 'interval' | 'always';
const tree = resolve(str('tree', new URL('..', import.meta.url).pathname));

const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(tree, path)).href)) as T;

const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(12, '0')}`);

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const runOnce = async (): Promise<{ opsPerSec: number; cpuUsPerOp: number; p999Us: number; p50Us: number; errors: number }> => {
  const { startNode } = await load<typeof NodeModule>('src/node/node.ts');
  const { defaultConfig } = await load<typeof ConfigModule>('src/node/config.ts');
  const { createClient } = await load<typeof ClientModule>('src/client/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-inproc-'));
  const nodes: NodeModule.RunningNode[] = [];
  const clients: ClientModule.Client[] = [];
  try {
    const base = { ...defaultConfig, backend, durability, port: 0, n: 3, r: 2, w: 2 };
    nodes.push(await startNode({ ...base, dataDir: join(dir, 'n1'), nodeId: 'n1', cluster: true }));
    const seed = `127.0.0.1:${nodes[0]!.port}`;
    for (const id of ['n2', 'n3']) nodes.push(await startNode({ ...base, dataDir: join(dir, id), nodeId: id, join: [seed] }));
    for (const n of nodes) clients.push(createClient({ nodes: [`127.0.0.1:${n.port}`], timeoutMs: 5000 }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const seen = await Promise.all(clients.map((c) => c.stats().then((s) => s['cluster.members'] ?? 0, () => 0)));
      if (seen.every((m) => m === 3)) break;
      if (Date.now() > deadline) throw new Error('the cluster did not form within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const value = Buffer.alloc(valueBytes, 0x61);
    const contexts: (Uint8Array | undefined)[] = new Array(keys);
    const put = (client: ClientModule.Client, i: number) =>
      client.put(keyOf(i), value, contexts[i] !== undefined ? { context: contexts[i] } : {}).then((r) => {
        contexts[i] = r.context;
      });
    await forEachConcurrent(keys, inflight, (i) => put(clients[i % clients.length]!, i));
    const rngs = Array.from({ length: inflight }, (_, i) => createRng(1000 + i));
    let cpuAtStart = 0;
    const sampler = setTimeout(() => (cpuAtStart = cpuUs()), warmupMs);
    const r = await closedLoop({
      inflight,
      warmupMs,
      durationMs,
      op: (loop) => {
        const rng = rngs[loop]!;
        const client = clients[loop % clients.length]!;
        const i = Math.floor(rng.next() * keys);
        if (rng.next() >= getFraction) return put(client, i);
        return client.getRaw(keyOf(i)).then((g) => {
          contexts[i] = g.context;
        });
      },
    });
    clearTimeout(sampler);
    const cpuUsPerOp = r.ops === 0 ? 0 : (cpuUs() - cpuAtStart) / r.ops;
    const lat = summarize(r.histogram);
    return { opsPerSec: r.opsPerSec, cpuUsPerOp, p999Us: lat.p999Us, p50Us: lat.p50Us, errors: r.errors };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const n of nodes) await n.close();
    rmSync(dir, { recursive: true, force: true });
  }
};

const main = async (): Promise<void> => {
  for (let i = 0; i < runs; i++) {
    const m = await runOnce();
    console.log(
      `inproc ${tree} ${backend}/${durability}: ${Math.round(m.opsPerSec)} ops/s, CPU ${m.cpuUsPerOp.toFixed(1)} µs/op, ` +
        `p50 ${fmtUs(m.p50Us)}, p99.9 ${fmtUs(m.p999Us)}, errors ${m.errors}, load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
};

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

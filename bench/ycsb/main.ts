/**
 * YCSB-style benchmark driver (issue 8).
 *
 *   node --import tsx bench/ycsb/main.ts --workload a --target ringkv [options]
 *
 *   --workload a|b|c|d|f        YCSB core workload (E is out of scope: no scans over hashed keys)
 *   --target ringkv|ringkv-inproc|redis|etcd
 *   --nodes K                   ringkv node processes: 1 standalone, K > 1 a cluster (node 1 --cluster, the rest --join it)
 *   --n N --r R --w W           cluster replication (default N = min(3, K), majority R and W)
 *   --backend memory|log|lmdb   ringkv backend (default memory); --durability none|interval|always
 *   --records N                 records loaded (default 100000; --quick 10000)
 *   --value-bytes B             value size (default 1000, YCSB's 10 fields × 100 B; try 100)
 *   --concurrency C             workers = requests in flight (default 50)
 *   --duration-ms D             run phase length (default 10000; --quick 3000)
 *   --warmup-ms W               first part of the run not recorded (default 1000; --quick 500)
 *   --rate R                    open loop at R ops/s in total (default: closed loop, max throughput)
 *   --distribution zipfian|uniform|latest   override the workload's key chooser
 *   --connections N             connections per node (ringkv) / to Redis (default 1)
 *   --seed S                    PRNG seed (default 1); same seed, same key and op sequence
 *   --no-load                   skip the load phase (the target must already hold the records)
 *   --label text                free text stored with the result
 *   --quick                     short run for smoke testing
 *
 * Writes bench/results/ycsb-<workload>-<target>-<time>.json and appends a
 * row to bench/results/ycsb.md.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fmtRate, fmtUs } from '../lib/latency.js';
import { repoRoot } from '../lib/procs.js';
import type { Distribution } from './generators.js';
import { loadPhase, runPhase, type PhaseResult } from './runner.js';
import { defaultReplication, openTarget, TARGET_NAMES, TargetUnavailable, type TargetName } from './targets.js';
import { invalidWorkload, OP_KINDS, WORKLOADS } from './workloads.js';

class UsageError extends Error {}

export interface DriverOptions {
  readonly workload: string;
  readonly target: TargetName;
  readonly nodes: number;
  /** ringkv cluster replication (K > 1); undefined = N = min(3, K), majority quorums. */
  readonly replication: { readonly n: number; readonly r: number; readonly w: number } | undefined;
  readonly backend: string;
  readonly durability: 'none' | 'interval' | 'always';
  readonly records: number;
  readonly valueBytes: number;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly ratePerSec: number | undefined;
  readonly distribution: Distribution;
  readonly connections: number;
  readonly seed: number;
  readonly load: boolean;
  readonly label: string;
  readonly quick: boolean;
}

/** Parses and checks the flags; throws UsageError naming the bad one. */
export const parseOptions = (argv: readonly string[]): DriverOptions => {
  const known = new Set(['workload', 'target', 'nodes', 'n', 'r', 'w', 'backend', 'durability', 'records', 'value-bytes', 'concurrency', 'duration-ms', 'warmup-ms', 'rate', 'distribution', 'connections', 'seed', 'label']);
  const flags = new Set(['no-load', 'quick']);
  const values = new Map<string, string>();
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    const name = a.slice(2);
    if (flags.has(name)) set.add(name);
    else if (known.has(name)) {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, v);
    } else throw new UsageError(`unknown option --${name}`);
  }
  const quick = set.has('quick');
  const int = (name: string, fallback: number, min: number): number => {
    const v = values.get(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
    return Number(v);
  };
  const workload = (values.get('workload') ?? 'a').toLowerCase();
  const bad = invalidWorkload(workload);
  if (bad !== undefined) throw new UsageError(bad);
  const target = (values.get('target') ?? 'ringkv') as TargetName;
  if (!TARGET_NAMES.includes(target)) throw new UsageError(`--target must be one of ${TARGET_NAMES.join(', ')}`);
  const distribution = (values.get('distribution') ?? WORKLOADS[workload]!.distribution) as Distribution;
  if (!['zipfian', 'uniform', 'latest'].includes(distribution)) throw new UsageError('--distribution must be zipfian, uniform or latest');
  const durability = (values.get('durability') ?? 'interval') as DriverOptions['durability'];
  if (!['none', 'interval', 'always'].includes(durability)) throw new UsageError('--durability must be none, interval or always');
  const rate = values.get('rate');
  const durationMs = int('duration-ms', quick ? 3000 : 10_000, 100);
  const warmupMs = int('warmup-ms', quick ? 500 : 1000, 0);
  if (warmupMs >= durationMs) throw new UsageError('--warmup-ms must be shorter than --duration-ms');
  const nodes = int('nodes', 1, 1);
  let replication: DriverOptions['replication'];
  if (values.has('n') || values.has('r') || values.has('w')) {
    const d = defaultReplication(nodes);
    const n = int('n', d.n, 1);
    const r = int('r', Math.floor(n / 2) + 1, 1);
    const w = int('w', Math.floor(n / 2) + 1, 1);
    if (nodes === 1) throw new UsageError('--n/--r/--w need --nodes > 1 (a single node is standalone: N = R = W = 1)');
    if (n > nodes || r > n || w > n) throw new UsageError(`need r, w ≤ n ≤ nodes; got n=${n} r=${r} w=${w} with ${nodes} nodes`);
    replication = { n, r, w };
  }
  return {
    workload,
    target,
    nodes,
    replication,
    backend: values.get('backend') ?? 'memory',
    durability,
    records: int('records', quick ? 10_000 : 100_000, 1),
    valueBytes: int('value-bytes', 1000, 0),
    concurrency: int('concurrency', 50, 1),
    durationMs,
    warmupMs,
    ratePerSec: rate === undefined ? undefined : int('rate', 0, 1),
    distribution,
    connections: int('connections', 1, 1),
    seed: int('seed', 1, 0),
    load: !set.has('no-load'),
    label: values.get('label') ?? '',
    quick,
  };
};

const latencyCells = (r: PhaseResult): string =>
  OP_KINDS.filter((k) => r.latency[k] !== undefined)
    .map((k) => {
      const l = r.latency[k]!;
      return `${k} ${fmtUs(l.p50Us)}/${fmtUs(l.p99Us)}/${fmtUs(l.p999Us)}`;
    })
    .join('; ');

const printPhase = (name: string, r: PhaseResult): void => {
  console.log(`\n${name}: ${r.ops} ops in ${(r.elapsedMs / 1000).toFixed(1)} s = ${fmtRate(r.opsPerSec)} ops/s, ${r.errors} errors${r.firstError ? ` (first: ${r.firstError})` : ''}`);
  if (r.serverCpuUsPerOp !== undefined || r.clientCpuUsPerOp !== undefined) {
    console.log(`  CPU per op: server ${r.serverCpuUsPerOp ?? '–'} µs, bench process ${r.clientCpuUsPerOp ?? '–'} µs`);
  }
  if (r.behindAtEnd !== undefined) console.log(`  open loop: ${r.behindAtEnd} ops behind schedule at the end, ${r.unsent ?? 0} never sent`);
  console.log('  op        count      p50       p90       p99     p99.9       max  errors  not-found');
  for (const k of OP_KINDS) {
    const l = r.latency[k];
    if (l === undefined) continue;
    console.log(
      `  ${k.padEnd(7)} ${String(l.count).padStart(7)} ${[l.p50Us, l.p90Us, l.p99Us, l.p999Us, l.maxUs].map((v) => fmtUs(v).padStart(9)).join(' ')} ${String(l.errors).padStart(7)} ${String(l.notFound).padStart(10)}`,
    );
  }
  console.log(`  per second: ${r.perSecond.join(' ')}`);
};

const MD_HEADER = [
  '# YCSB-style runs',
  '',
  'One row per run of `npm run bench` (bench/ycsb/main.ts); the JSON file beside each row has every number. Latency cells are p50/p99/p99.9 per operation. Runs on a shared, noisy 2-core machine: compare rows from the same session (ratios), not across days.',
  '',
  '| date | workload | target | setup | records × value | concurrency | mode | ops/s | latency p50/p99/p99.9 | CPU/op server, bench | errors | label |',
  '|---|---|---|---|---|---:|---|---:|---|---|---:|---|',
].join('\n');

const main = async (): Promise<number> => {
  let o: DriverOptions;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`ycsb: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const w = WORKLOADS[o.workload]!;
  const mode = o.ratePerSec === undefined ? 'closed loop' : `open loop ${o.ratePerSec}/s`;
  console.log(
    `ycsb workload ${w.name.toUpperCase()} (${w.description}), ${o.distribution} keys; target ${o.target}; ${o.records} records × ${o.valueBytes} B; ` +
      `${o.concurrency} workers, ${mode}, ${o.durationMs} ms (${o.warmupMs} ms warm-up), seed ${o.seed}; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`,
  );
  let target;
  try {
    target = await openTarget(o.target, { nodes: o.nodes, backend: o.backend, durability: o.durability, connections: o.connections, ...(o.replication ? { replication: o.replication } : {}) });
  } catch (e) {
    if (e instanceof TargetUnavailable) {
      console.error(`ycsb: target ${o.target} unavailable: ${e.message}`);
      return 3;
    }
    throw e;
  }
  console.log(`target: ${target.description}`);
  const progress = (l: string) => console.error(l);
  let load: PhaseResult | undefined;
  let run: PhaseResult;
  let counters: Readonly<Record<string, number>> = {};
  try {
    if (o.load) {
      load = await loadPhase(target, { records: o.records, valueBytes: o.valueBytes, concurrency: o.concurrency, seed: o.seed, progress });
      printPhase('load', load);
    }
    run = await runPhase(target, {
      workload: w,
      distribution: o.distribution,
      records: o.records,
      valueBytes: o.valueBytes,
      concurrency: o.concurrency,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs,
      ratePerSec: o.ratePerSec,
      seed: o.seed,
      progress,
    });
    printPhase(`run ${w.name.toUpperCase()}`, run);
    counters = target.counters();
    if (Object.keys(counters).length > 0) console.log(`  ${target.name}: ${Object.entries(counters).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  } finally {
    await target.close();
  }
  const date = new Date().toISOString();
  const dir = join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = `ycsb-${o.workload}-${o.target}-${date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(join(dir, file), JSON.stringify({ date, cpus: cpus().length, loadAvg: loadavg()[0], options: o, target: target.description, load: load ?? null, run, counters }, null, 2) + '\n');
  const md = join(dir, 'ycsb.md');
  if (!existsSync(md)) writeFileSync(md, MD_HEADER + '\n');
  const cpu = `${run.serverCpuUsPerOp ?? '–'} µs, ${run.clientCpuUsPerOp ?? '–'} µs`;
  appendFileSync(
    md,
    `| ${date.slice(0, 19)}Z | ${w.name.toUpperCase()} ${o.distribution} | ${o.target} | ${target.description} | ${o.records} × ${o.valueBytes} B | ${o.concurrency} | ${mode} | ${fmtRate(run.opsPerSec)} | ${latencyCells(run)} | ${cpu} | ${run.errors} | ${o.label.replace(/\|/g, '/')} |\n`,
  );
  console.log(`\nwrote bench/results/${file}; appended a row to bench/results/ycsb.md`);
  return 0;
};

// Bound the whole run: a wedged target must not hold the shared machine.
const guard = setTimeout(() => {
  console.error('ycsb: gave up after 15 minutes');
  process.exit(1);
}, 900_000);
guard.unref();
main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

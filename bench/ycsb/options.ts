/**
 * The YCSB driver's options: parsed and checked here so that the one-run
 * driver (main.ts) and the matrix (all.ts) agree on what a run is.
 */
import type { Distribution } from './generators.js';
import type { RunOptions } from './runner.js';
import { defaultReplication, TARGET_NAMES, type TargetName } from './targets.js';
import { invalidWorkload, WORKLOADS } from './workloads.js';

export class UsageError extends Error {}

/** What a run is, as the runner takes it (runner.ts says what each means), plus which target and how it is set up. */
export interface DriverOptions extends Pick<RunOptions, 'records' | 'valueBytes' | 'concurrency' | 'durationMs' | 'warmupMs' | 'ratePerSec' | 'distribution' | 'seed'> {
  /** The workload's name (runner.ts takes the Workload itself). */
  readonly workload: string;
  readonly target: TargetName;
  readonly nodes: number;
  /** ringkv cluster replication (K > 1); undefined = N = min(3, K), majority quorums. */
  readonly replication: { readonly n: number; readonly r: number; readonly w: number } | undefined;
  readonly backend: string;
  readonly durability: 'none' | 'interval' | 'always';
  readonly connections: number;
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


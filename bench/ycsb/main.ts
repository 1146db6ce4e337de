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
import { reexecCompiled } from '../lib/compiled.js';
import { cpus, loadavg } from 'node:os';
import { parseOptions, UsageError, type DriverOptions } from './options.js';
import { modeText, printPhase, saveRun } from './results.js';
import { loadPhase, runPhase, type PhaseResult } from './runner.js';
import { openTarget, TargetUnavailable } from './targets.js';
import { WORKLOADS } from './workloads.js';
import { mainWithDeadline } from '../lib/procs.js';

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
  const mode = modeText(o.ratePerSec);
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
  const saved = saveRun(o, target.description, load, run, counters);
  console.log(`\nwrote bench/results/${saved.file}; appended a row to bench/results/ycsb.md`);
  return 0;
};

// Bound the whole run: a wedged target must not hold the shared machine.
reexecCompiled(import.meta.url);
mainWithDeadline('ycsb', 900_000, main);

/**
 * Runs the deterministic cluster simulation (src/cluster/sim/) over many
 * seeds with the real ClusterNode, or replays one seed with its full trace.
 *
 *   npm run sim -- --seeds 10000 [--start 1]      a long batch
 *   RINGKV_SIM_SEED=123 npm run sim               replay one seed, print its trace
 *   npm run sim -- --seed 123 [--quiet]           the same (--quiet: summary only, no trace)
 *   npm run sim -- --naive ...                    the harness's NaiveNode instead (harness check)
 *   npm run sim -- --ungated ...                  clients may use a node before it knows every member
 *   npm run sim -- --harsh ...                    more clients, longer and more faults, more loss
 *   npm run sim -- --max-pauses 0 ...             also --max-crashes N, --max-partitions N, --max-wipes N (disk loss)
 *   npm run sim -- --one-way ...                  half the partitions fail in one direction only
 *   npm run sim -- --no-elements ...              without the two clients that add and remove set elements (issue 7)
 *   npm run sim -- --max-joins 2 --max-leaves 2   more membership changes (issue 6; default up to 1 each)
 *
 * Prints each failing seed with its violations and the replay command, and
 * a summary line; exits non-zero when any seed failed.
 */
import { ClusterNode } from '../src/cluster/cluster_node.js';
import { NaiveNode } from '../src/cluster/sim/naive_node.js';
import { runScenario, type ScenarioResult } from '../src/cluster/sim/scenario.js';
import type { NodeFactory } from '../src/cluster/sim/world.js';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const value = (name: string): number | undefined => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`);
  return v;
};

const envSeed = process.env.RINGKV_SIM_SEED;
const single = envSeed !== undefined && envSeed !== '' ? Number(envSeed) : value('seed');
const seeds = value('seeds') ?? 200;
const start = value('start') ?? 1;
const naive = flag('naive');
const readinessGate = !flag('ungated');
// Issue 7: two clients add and remove set elements (one key each) unless --no-elements.
const elementClients = flag('no-elements') ? 0 : 2;
const limits = Object.fromEntries(
  (['max-partitions', 'max-crashes', 'max-pauses', 'max-wipes', 'max-joins', 'max-leaves'] as const)
    .map((name) => [name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), value(name)] as const)
    .filter(([, v]) => v !== undefined),
);
const profile = {
  ...(flag('harsh') ? { clientCount: 5, opsPerClient: 10, keyCount: 2, activeMs: 12_000, maxPartitions: 3, maxCrashes: 3, maxPauses: 3, maxFaultMs: 7000 } : {}),
  ...limits,
  ...(flag('one-way') ? { oneWayRate: 0.5 } : {}),
};
const makeFactory = (ids: readonly string[]): NodeFactory =>
  naive ? (o) => new NaiveNode(o, { peers: ids, pushIntervalMs: 1000 }) : (o) => new ClusterNode(o);

/** The flags that shape a run (not which seeds), for the replay command. */
const replayFlags = args
  .filter((a, i) => !['--seeds', '--start', '--seed'].includes(a) && !['--seeds', '--start', '--seed'].includes(args[i - 1] ?? ''))
  .join(' ');

const printFailure = (r: ScenarioResult): void => {
  console.log(`FAIL seed ${r.seed} (${r.nodeCount} nodes, ${r.crashes} crashes, ${r.partitions} partitions, ${r.pauses} pauses, ${r.wipes} wipes, trace ${r.traceHash.slice(0, 16)})`);
  for (const v of r.violations) console.log(`  - ${v}`);
  console.log(`  replay: RINGKV_SIM_SEED=${r.seed} npm run sim${replayFlags === '' ? '' : ` -- ${replayFlags}`}`);
};

if (single !== undefined) {
  if (!Number.isInteger(single) || single < 0 || single > 0xffffffff) throw new Error(`bad seed ${String(single)}`);
  const r = await runScenario({ ...profile, seed: single, makeFactory, keepTrace: true, readinessGate, checkRing: !naive, elementClients });
  if (flag('quiet') === false) for (const line of r.trace) console.log(line);
  console.log(
    `seed ${r.seed}: ${r.ok ? 'ok' : 'FAIL'}; ${r.nodeCount} nodes, ${r.events} events, ${r.simMs} simulated ms, ` +
      `${r.acknowledged}/${r.attempted} adds acknowledged, ${r.joins} joins, ${r.leaves} leaves, ${r.crashes} crashes, ${r.partitions} partitions, ${r.pauses} pauses, ${r.wipes} wipes, ` +
      `messages ${JSON.stringify(r.messages)}, counters ${JSON.stringify(r.counters)}, max siblings ${r.maxSiblings}; trace sha256 ${r.traceHash}`,
  );
  if (!r.ok) printFailure(r);
  process.exit(r.ok ? 0 : 1);
}

const startedMs = Date.now();
let failed = 0;
let events = 0;
let acked = 0;
let attempted = 0;
let maxSiblings = 0;
let joins = 0;
let leaves = 0;
const counters: Record<string, number> = {};
const failures: number[] = [];
for (let seed = start; seed < start + seeds; seed++) {
  const r = await runScenario({ ...profile, seed, makeFactory, readinessGate, checkRing: !naive, elementClients });
  events += r.events;
  acked += r.acknowledged;
  attempted += r.attempted;
  maxSiblings = Math.max(maxSiblings, r.maxSiblings);
  joins += r.joins;
  leaves += r.leaves;
  for (const [k, v] of Object.entries(r.counters)) counters[k] = (counters[k] ?? 0) + v;
  if (!r.ok) {
    failed++;
    failures.push(seed);
    printFailure(r);
  }
  const done = seed - start + 1;
  if (done % 500 === 0) console.log(`… ${done}/${seeds} seeds, ${failed} failed, ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
}
const seconds = (Date.now() - startedMs) / 1000;
console.log(
  `sim: ${seeds} seeds (${start}..${start + seeds - 1}) with ${naive ? 'NaiveNode' : 'ClusterNode'}${readinessGate ? '' : ', ungated'}${flag('harsh') ? ', harsh' : ''}: ${seeds - failed} ok, ${failed} failed; ` +
    `${events} events, ${acked}/${attempted} adds acknowledged, ${joins} joins, ${leaves} leaves, counters ${JSON.stringify(counters)}, max siblings ${maxSiblings}; ${seconds.toFixed(1)} s (${((seconds * 1000) / seeds).toFixed(1)} ms/seed)`,
);
if (failures.length > 0) console.log(`failing seeds: ${failures.slice(0, 50).join(' ')}${failures.length > 50 ? ' …' : ''}`);
process.exit(failed > 0 ? 1 : 0);

/**
 * Cluster benchmark (issue 5): three ringkv node processes on loopback
 * (N=3 R=2 W=2), the SDK as a closed-loop load generator (50 requests in
 * flight by default, spread evenly over the three nodes), a 50/50 get/put mix
 * of 100-byte values over a preloaded key space. Then the same load on one
 * standalone node in the same run, so the cost of replication is a ratio
 * measured side by side (absolute figures on a shared 2-core box drift; a
 * ratio holds better).
 *
 *   npm run bench:cluster [-- --duration-ms 5000] [--warmup-ms 1000]
 *     [--inflight 50] [--keys 10000] [--value-bytes 100] [--get-fraction 0.5]
 *     [--backend log] [--durability interval] [--routing-nodes 5] [--quick]
 *     [--node-flags '--shared-sync false'] [--cluster-only] [--profile-dir DIR]
 *
 * Targets (issue 5): ≥ 60k ops/s and p99.9 ≤ 10 ms for the cluster.
 * Writes bench/results/cluster.json and bench/results/cluster.md. Every
 * child process is killed by PID at the end (also on error or Ctrl-C).
 */
import { cpus, loadavg } from 'node:os';
import { createClient, type Client } from '../src/client/index.js';
import { closedLoop, getPutMix } from './lib/loadgen.js';
import { fmtRate, fmtUs, summarize, type LatencySummary } from './lib/latency.js';
import { cpuTimeMs, spawnRingkvNode, type Spawned } from './lib/procs.js';
import { environment, markdownTable, textTable, writeResults, type Row } from './lib/report.js';
import { flag, numFlag, strFlag } from './lib/args.js';
import { isCompiledRun, reexecCompiled } from './lib/compiled.js';
import { readFileSync } from 'node:fs';

/** Write and read syscalls a process made so far (/proc/PID/io): socket writes per op say how well frames coalesce. */
const syscalls = (pid: number): { readonly writes: number; readonly reads: number; readonly sysMs: number } => {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // System time in ms (USER_HZ 100): kernel work (syscalls, TCP on loopback) separate from JS.
    return { writes: field('syscw'), reads: field('syscr'), sysMs: Number(fields[12]) * 10 };
  } catch {
    return { writes: 0, reads: 0, sysMs: 0 };
  }
};

const num = numFlag;
const str = strFlag;

const quick = flag('quick') === true;
const durationMs = num('duration-ms', quick ? 2000 : 5000);
// Long enough for V8 to optimise the hot paths of four processes sharing two cores.
const warmupMs = num('warmup-ms', quick ? 2000 : 4000);
const inflight = num('inflight', 50);
const keys = num('keys', quick ? 2000 : 10_000);
const valueBytes = num('value-bytes', 100);
const getFraction = num('get-fraction', 0.5);
const backend = str('backend', 'log');
const durability = str('durability', 'interval') as 'none' | 'interval' | 'always';

// --profile-dir DIR: the cluster's nodes run the compiled CLI (npm run build:ts first) under
// --cpu-prof, one profile per node in DIR (summarise with bench/lib/cpuprofile.ts).
const profileDir = str('profile-dir', '');
const clusterOnly = flag('cluster-only') === true;
// --node-flags '--shared-sync false ...': more `ringkv start` flags for every node (A/B runs of a node option).
const nodeFlags = str('node-flags', '').split(/\s+/).filter((f) => f !== '');
// Client-driven vs any-node routing (issue 6) is measured on a cluster larger than N=3 (on 3 nodes every
// node holds every key, so nothing is forwarded either way): --routing-nodes 5 by default, 0 skips it.
const routingNodes = num('routing-nodes', quick ? 4 : 5);
// --compiled (what `npm run bench:cluster` passes): the bench, its load generator and every node run as
// plain JavaScript, as `npm start` does (bench/lib/compiled.ts builds and re-runs). Under tsx the nodes also
// pay for esbuild's output (bench/cluster_inproc.ts measured ~11% more CPU per op) and the load generator
// stalls. In a compiled run spawnRingkvNode starts the nodes from dist/ by itself; --profile-dir under tsx
// also runs them from dist/, as last built (readable profiles).
const distNodes = profileDir === '' || isCompiledRun() ? {} : { entry: 'dist/src/cli/main.js' };
const compiled = isCompiledRun() || profileDir !== '';
const profiled = {
  ...distNodes,
  ...(profileDir === '' ? {} : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] }),
};

const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(12, '0')}`);

interface Measured {
  readonly setup: string;
  readonly opsPerSec: number;
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly latency: LatencySummary;
  /** CPU time (user + system) of all node processes per measured op: holds up on a shared box where ops/s does not. */
  readonly nodeCpuUsPerOp: number;
  /** The same for the load generator (this process). */
  readonly loadgenCpuUsPerOp: number;
  readonly nodeStats: readonly Record<string, number>[];
  /** Write syscalls (socket writes, log appends) of all node processes per measured op. */
  readonly nodeWritesPerOp: number;
  readonly nodeReadsPerOp: number;
  /** The kernel's share of nodeCpuUsPerOp. */
  readonly nodeSysUsPerOp: number;
  /** Client requests the receiving node had to forward (it was not in the key's preference list), over all client requests, during the load. */
  readonly forwardedFraction: number;
}

/** Sum over nodes of the STATS figures the forwarded fraction needs. */
const forwardCounts = async (statsClients: readonly Client[]): Promise<{ forwarded: number; requests: number }> => {
  const all = await Promise.all(statsClients.map((c) => c.stats().catch(() => ({}) as Record<string, number>)));
  let forwarded = 0;
  let requests = 0;
  for (const s of all) {
    forwarded += s['service.forwardedRequests'] ?? 0;
    requests += (s['ops.get'] ?? 0) + (s['ops.put'] ?? 0) + (s['ops.delete'] ?? 0);
  }
  return { forwarded, requests };
};

/**
 * Preloads the keys, then runs the closed loop; loop i talks to
 * clients[i % clients.length]. `statsClients` (default `clients`) reach one
 * node each, for the per-node counters.
 */
const load = async (
  setup: string,
  clients: readonly Client[],
  pids: readonly number[],
  statsClients: readonly Client[] = clients,
  // The latest context seen per key (GetPutMixOptions.contexts), shared by the loads of one cluster.
  contexts: (Uint8Array | undefined)[] = new Array(keys),
): Promise<Measured> => {
  const mix = getPutMix(clients, { keys, keyOf, valueBytes, getFraction, inflight, seed: 1000, contexts });
  await mix.preload();
  const nodeCpu = (): number => pids.reduce((sum, pid) => sum + (cpuTimeMs(pid) ?? 0), 0);
  const nodeIo = (): { writes: number; reads: number; sysMs: number } =>
    pids.reduce((sum, pid) => {
      const c = syscalls(pid);
      return { writes: sum.writes + c.writes, reads: sum.reads + c.reads, sysMs: sum.sysMs + c.sysMs };
    }, { writes: 0, reads: 0, sysMs: 0 });
  const selfCpuUs = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const forwardsBefore = await forwardCounts(statsClients);
  let cpuAtStart: { nodeMs: number; selfUs: number; io: { writes: number; reads: number; sysMs: number } } | undefined;
  const sampler = setTimeout(() => {
    cpuAtStart = { nodeMs: nodeCpu(), selfUs: selfCpuUs(), io: nodeIo() };
  }, warmupMs);
  const r = await closedLoop({
    inflight,
    warmupMs,
    durationMs,
    op: mix.op,
  });
  clearTimeout(sampler);
  const start = cpuAtStart as { nodeMs: number; selfUs: number; io: { writes: number; reads: number; sysMs: number } } | undefined;
  const ioEnd = nodeIo();
  const nodeWritesPerOp = start === undefined || r.ops === 0 ? 0 : (ioEnd.writes - start.io.writes) / r.ops;
  const nodeReadsPerOp = start === undefined || r.ops === 0 ? 0 : (ioEnd.reads - start.io.reads) / r.ops;
  const nodeSysUsPerOp = start === undefined || r.ops === 0 ? 0 : ((ioEnd.sysMs - start.io.sysMs) * 1000) / r.ops;
  const nodeCpuUsPerOp = start === undefined || r.ops === 0 ? 0 : ((nodeCpu() - start.nodeMs) * 1000) / r.ops;
  const loadgenCpuUsPerOp = start === undefined || r.ops === 0 ? 0 : (selfCpuUs() - start.selfUs) / r.ops;
  const forwardsAfter = await forwardCounts(statsClients);
  // The STATS requests themselves count as ops (not as forwards): a few in tens of thousands.
  const requests = forwardsAfter.requests - forwardsBefore.requests;
  const forwardedFraction = requests > 0 ? (forwardsAfter.forwarded - forwardsBefore.forwarded) / requests : 0;
  const nodeStats = await Promise.all(statsClients.map((c) => c.stats().catch(() => ({}) as Record<string, number>)));
  return {
    setup,
    opsPerSec: r.opsPerSec,
    ops: r.ops,
    errors: r.errors,
    firstError: r.firstError,
    latency: summarize(r.histogram),
    nodeCpuUsPerOp,
    loadgenCpuUsPerOp,
    nodeStats,
    nodeWritesPerOp,
    nodeReadsPerOp,
    nodeSysUsPerOp,
    forwardedFraction,
  };
};

/** Two loads of one setup as one row: sums of counts, means of rates, latencies and per-op costs. */
const meanOf = (a: Measured, b: Measured): Measured => {
  const mean = (x: number, y: number): number => (x + y) / 2;
  const latency: LatencySummary = {
    count: a.latency.count + b.latency.count,
    p50Us: mean(a.latency.p50Us, b.latency.p50Us),
    p90Us: mean(a.latency.p90Us, b.latency.p90Us),
    p99Us: mean(a.latency.p99Us, b.latency.p99Us),
    p999Us: mean(a.latency.p999Us, b.latency.p999Us),
    maxUs: Math.max(a.latency.maxUs, b.latency.maxUs),
    meanUs: mean(a.latency.meanUs, b.latency.meanUs),
  };
  return {
    setup: `${a.setup} (mean of 2 loads)`,
    opsPerSec: mean(a.opsPerSec, b.opsPerSec),
    ops: a.ops + b.ops,
    errors: a.errors + b.errors,
    firstError: a.firstError ?? b.firstError,
    latency,
    nodeCpuUsPerOp: mean(a.nodeCpuUsPerOp, b.nodeCpuUsPerOp),
    loadgenCpuUsPerOp: mean(a.loadgenCpuUsPerOp, b.loadgenCpuUsPerOp),
    nodeStats: b.nodeStats,
    nodeWritesPerOp: mean(a.nodeWritesPerOp, b.nodeWritesPerOp),
    nodeReadsPerOp: mean(a.nodeReadsPerOp, b.nodeReadsPerOp),
    nodeSysUsPerOp: mean(a.nodeSysUsPerOp, b.nodeSysUsPerOp),
    forwardedFraction: mean(a.forwardedFraction, b.forwardedFraction),
  };
};

const waitMembers = async (clients: readonly Client[], count: number, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const seen = await Promise.all(clients.map((c) => c.stats().then((s) => s['cluster.members'] ?? 0, () => 0)));
    if (seen.every((m) => m === count)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the cluster did not see ${count} members within ${timeoutMs} ms`);
};

/**
 * The cluster, loaded twice in the same run: as before issue 6 (one client
 * per node, `routing: 'any'`, so a node forwards the keys it does not hold)
 * and with client-driven routing (one client given every node, sending each
 * request to a node of the key's preference list). Both shapes use one
 * connection per node in all. With N=3 on 3 nodes every node holds every
 * key, so neither forwards; the larger cluster (--routing-nodes) shows the
 * difference.
 */
const runCluster = async (nodeCount: number, withRouted: boolean): Promise<{ readonly any: Measured; readonly routed: Measured | undefined }> => {
  const nodes: Spawned[] = [];
  const clients: Client[] = [];
  let routedClient: Client | undefined;
  try {
    const common = ['--n', '3', '--r', '2', '--w', '2', ...nodeFlags];
    nodes.push(await spawnRingkvNode({ backend, durability, ...profiled, extraArgs: [...common, '--node-id', 'n1', '--cluster'] }));
    const seed = `127.0.0.1:${nodes[0]!.port}`;
    for (let i = 2; i <= nodeCount; i++) nodes.push(await spawnRingkvNode({ backend, durability, ...profiled, extraArgs: [...common, '--node-id', `n${i}`, '--join', seed] }));
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    for (const a of addresses) clients.push(createClient({ nodes: [a], timeoutMs: 5000, routing: 'any' }));
    await waitMembers(clients, nodeCount, 30_000);
    const pids = nodes.map((n) => n.pid);
    const shape = `${nodeCount} nodes, N=3 R=2 W=2`;
    // The 3-node, any-routing setup keeps the name issue 5's results have.
    const anyName = nodeCount === 3 ? `cluster: ${shape}` : `cluster: ${shape}, any-node routing`;
    const contexts: (Uint8Array | undefined)[] = new Array(keys);
    const runAny = (): Promise<Measured> => load(anyName, clients, pids, clients, contexts);
    const runRouted = async (): Promise<Measured> => {
      routedClient ??= createClient({ nodes: addresses, timeoutMs: 5000, routing: 'client' });
      if (!(await routedClient.refreshRing())) throw new Error('the cluster did not serve its ring');
      return load(`cluster: ${shape}, client-driven routing`, [routedClient], pids, clients, contexts);
    };
    if (!withRouted) return { any: await runAny(), routed: undefined };
    // A cluster's later loads run on warmer processes (JIT, page cache, a larger log): the order
    // any, client, client, any gives both the same mean position; each figure is the mean of its two loads.
    const any1 = await runAny();
    const routed1 = await runRouted();
    const routed2 = await runRouted();
    const any2 = await runAny();
    const any = meanOf(any1, any2);
    const routed = meanOf(routed1, routed2);
    return { any, routed };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await routedClient?.close();
    // What the nodes logged (warnings and errors; info is quiet) says why a run went wrong.
    if (flag('node-output') === true) nodes.forEach((n, i) => console.log(`--- n${i + 1} output\n${n.output()}`));
    await Promise.all(nodes.map((n) => n.stop()));
  }
};

const runStandalone = async (): Promise<Measured> => {
  const node = await spawnRingkvNode({ backend, durability, ...distNodes, extraArgs: nodeFlags });
  const client = createClient({ nodes: [`127.0.0.1:${node.port}`], timeoutMs: 5000 });
  try {
    return await load('standalone: 1 node, N=R=W=1', [client], [node.pid]);
  } finally {
    await client.close();
    await node.stop();
  }
};

const main = async (): Promise<void> => {
  console.log(
    `bench:cluster  ${inflight} in flight, ${Math.round(getFraction * 100)}% get, ${valueBytes}-byte values, ${keys} keys, ` +
      `${warmupMs} ms warm-up + ${durationMs} ms, backend ${backend}/${durability}, nodes ${compiled ? 'compiled (dist/)' : 'under tsx'}, ${cpus().length} cpus, load ${loadavg()[0]!.toFixed(2)}`,
  );
  const loadBefore = loadavg()[0]!;
  const cluster3 = await runCluster(3, !clusterOnly);
  const cluster = cluster3.any;
  if (clusterOnly) {
    const m = cluster;
    console.log(
      `${m.setup}: ${Math.round(m.opsPerSec)} ops/s, p50 ${fmtUs(m.latency.p50Us)}, p99 ${fmtUs(m.latency.p99Us)}, p99.9 ${fmtUs(m.latency.p999Us)}, ` +
        `errors ${m.errors}, node CPU ${Math.round(m.nodeCpuUsPerOp)} µs/op (sys ${Math.round(m.nodeSysUsPerOp)}), node writes ${m.nodeWritesPerOp.toFixed(2)}/op, reads ${m.nodeReadsPerOp.toFixed(2)}/op`,
    );
    cluster.nodeStats.forEach((s, i) => console.log(`n${i + 1}: ${Object.entries(s).filter(([k]) => /service\.(readRepairs|forwarded|peerFramesSent|peerWrites)/.test(k)).map(([k, v]) => `${k.slice(8)} ${v}`).join(', ')}`));
    return;
  }
  const routingRun = routingNodes > 0 ? await runCluster(routingNodes, true) : undefined;
  const standalone = await runStandalone();
  // Every hop of a replicated request (client → coordinator → replica → back) waits for a CPU;
  // on a box whose load average is far above its core count that wait dominates. Say so beside the numbers.
  const loadAfter = loadavg()[0]!;
  const results = [cluster, cluster3.routed, routingRun?.any, routingRun?.routed, standalone].filter((m): m is Measured => m !== undefined);
  const header: Row = ['setup', 'ops/s', 'p50', 'p99', 'p99.9', 'max', 'errors', 'forwarded', 'node CPU µs/op', 'loadgen CPU µs/op', 'node writes/op', 'node reads/op'];
  const rows: Row[] = results.map((m) => [
    m.setup,
    Math.round(m.opsPerSec),
    fmtUs(m.latency.p50Us),
    fmtUs(m.latency.p99Us),
    fmtUs(m.latency.p999Us),
    fmtUs(m.latency.maxUs),
    m.errors,
    `${(m.forwardedFraction * 100).toFixed(1)}%`,
    Math.round(m.nodeCpuUsPerOp),
    Math.round(m.loadgenCpuUsPerOp),
    m.nodeWritesPerOp.toFixed(2),
    m.nodeReadsPerOp.toFixed(2),
  ]);
  const ratio = standalone.opsPerSec > 0 ? cluster.opsPerSec / standalone.opsPerSec : 0;
  const cpuRatio = standalone.nodeCpuUsPerOp > 0 ? cluster.nodeCpuUsPerOp / standalone.nodeCpuUsPerOp : 0;
  // What the nodes' CPU cost alone would allow if the cores were theirs: an upper bound, not a measurement.
  const cpuBoundOpsPerSec = cluster.nodeCpuUsPerOp > 0 ? Math.round((cpus().length * 1e6) / cluster.nodeCpuUsPerOp) : 0;
  const targets = {
    opsPerSec: { target: 60_000, measured: Math.round(cluster.opsPerSec), met: cluster.opsPerSec >= 60_000 },
    p999Ms: { target: 10, measured: cluster.latency.p999Us / 1000, met: cluster.latency.p999Us <= 10_000 },
  };
  // Issue 6: the hop a forward adds, measured on the larger cluster in this run.
  const routingTarget =
    routingRun?.routed === undefined
      ? undefined
      : {
          nodes: routingNodes,
          forwardedFractionClient: routingRun.routed.forwardedFraction,
          forwardedFractionAny: routingRun.any.forwardedFraction,
          p999UsClient: routingRun.routed.latency.p999Us,
          p999UsAny: routingRun.any.latency.p999Us,
          p999Ratio: routingRun.any.latency.p999Us > 0 ? routingRun.routed.latency.p999Us / routingRun.any.latency.p999Us : 0,
        };
  const routingLine =
    routingTarget === undefined
      ? 'client-driven routing: not measured (--routing-nodes 0)'
      : `client-driven routing on ${routingTarget.nodes} nodes: forwarded ${(routingTarget.forwardedFractionClient * 100).toFixed(2)}% of requests vs ${(routingTarget.forwardedFractionAny * 100).toFixed(1)}% with any-node routing; ` +
        `p99.9 ${fmtUs(routingTarget.p999UsClient)} vs ${fmtUs(routingTarget.p999UsAny)} (${routingTarget.p999Ratio.toFixed(2)}x)`;
  console.log(textTable(header, rows));
  console.log(routingLine);
  console.log(`cluster / standalone throughput: ${ratio.toFixed(2)}x; node CPU per op: ${cpuRatio.toFixed(2)}x (the cost of replication)`);
  console.log(`the nodes' CPU per op alone would allow ${fmtRate(cpuBoundOpsPerSec)} ops/s on ${cpus().length} cores`);
  console.log(`target ≥ 60k ops/s: ${fmtRate(cluster.opsPerSec)} ${targets.opsPerSec.met ? 'met' : 'NOT met'}; target p99.9 ≤ 10 ms: ${fmtUs(cluster.latency.p999Us)} ${targets.p999Ms.met ? 'met' : 'NOT met'}`);
  for (const m of results) if (m.errors > 0) console.log(`${m.setup}: ${m.errors} errors, first: ${m.firstError}`);
  // Cluster counters per node: read repairs or forwards on a healthy, agreeing cluster are wasted work.
  const counters = /service\.(readRepairs|forwarded|hintsStored|peerRequestFailures|peerFramesSent|peerWrites)/;
  cluster.nodeStats.forEach((s, i) => {
    const shown = Object.entries(s).filter(([k]) => counters.test(k)).map(([k, v]) => `${k.slice(8)} ${v}`);
    const frames = s['service.peerFramesSent'];
    const writes = s['service.peerWrites'];
    // Whole run (preload included): how many peer request frames one socket write carried.
    if (frames !== undefined && writes !== undefined && writes > 0) shown.push(`peer frames/write ${(frames / writes).toFixed(2)}`);
    console.log(`n${i + 1}: ${shown.join(', ') || 'no cluster counters reported'}`);
  });
  const md = [
    `# bench:cluster`,
    '',
    `${inflight} requests in flight from the SDK (spread evenly over the nodes), ${Math.round(getFraction * 100)}% get / ${Math.round((1 - getFraction) * 100)}% put, ${valueBytes}-byte values over ${keys} preloaded keys, ${durationMs} ms measured after ${warmupMs} ms warm-up, backend ${backend}/${durability}. Both setups ran in the same run on the same machine (1-min load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, on ${cpus().length} cpus).`,
    '',
    markdownTable(header, rows),
    '',
    `cluster / standalone throughput: **${ratio.toFixed(2)}x**; node CPU time per op: **${cpuRatio.toFixed(2)}x** (the cost of replication, robust to a busy machine); the nodes' CPU per op alone would allow ${fmtRate(cpuBoundOpsPerSec)} ops/s on ${cpus().length} cores.`,
    '',
    `${routingLine.replace(/^client-driven routing/, 'Client-driven routing (issue 6)')}.`,
    '',
    `Targets (issue 5): ≥ 60k ops/s — ${targets.opsPerSec.met ? 'met' : 'not met'} (${fmtRate(cluster.opsPerSec)}); p99.9 ≤ 10 ms — ${targets.p999Ms.met ? 'met' : 'not met'} (${fmtUs(cluster.latency.p999Us)}).`,
    '',
  ].join('\n');
  const paths = writeResults('cluster', { environment: { ...environment(), loadAverageBefore: loadBefore, loadAverageAfter: loadAfter }, options: { inflight, getFraction, valueBytes, keys, durationMs, warmupMs, backend, durability, routingNodes, compiled }, results, ratio, cpuRatio, cpuBoundOpsPerSec, targets, routing: routingTarget }, md);
  console.log(`wrote ${paths.join(', ')}`);
};

reexecCompiled(import.meta.url);
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

/**
 * SDK cost per request (issue 4: the client's CPU per op was as large as the
 * server's, and both share the cores in every benchmark). One standalone
 * node (memory backend) in its own process; this process runs the closed
 * loop (50 in flight, 20-byte keys, 100-byte values) and measures its own
 * CPU time (user + system) per completed request. With `--baseline DIR` (a
 * checkout of another commit, e.g. `git archive <rev> | tar -x -C DIR` with
 * node_modules and build linked) the baseline's SDK runs against the same node
 * in alternating rounds, so the ratio is measured in one run.
 *
 *   node --import tsx bench/client_cpu.ts [--baseline DIR] [--rounds 3]
 *     [--duration-ms 3000] [--warmup-ms 1000] [--inflight 50] [--ops get,put] [--fake | --inproc]
 *
 * The load generator's own work (histogram, loop) is in both figures alike.
 */
import { resolve } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { closedLoop, forEachConcurrent } from './lib/loadgen.js';
import { median } from './lib/timing.js';
import { flag } from './lib/args.js';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { repoRoot, spawnRingkvNode, stopProcess, track } from './lib/procs.js';
import { startFakeNode } from './lib/fake_node.js';

interface SdkClient {
  getRaw(key: Uint8Array): Promise<unknown>;
  put(key: Uint8Array, value: Uint8Array): Promise<unknown>;
  close(): Promise<void>;
}
type CreateClient = (o: { nodes: string[]; timeoutMs?: number }) => SdkClient;

const num = (name: string, fallback: number): number => {
  const v = flag(name);
  return typeof v === 'string' ? Number(v) : fallback;
};
const rounds = num('rounds', 6);
const durationMs = num('duration-ms', 1500);
const warmupMs = num('warmup-ms', 700);
const inflight = num('inflight', 50);
const keys = 10_000;
const baseline = flag('baseline');
const ops = (typeof flag('ops') === 'string' ? (flag('ops') as string) : 'get,put').split(',') as ('get' | 'put')[];

// --fake: a stand-in node (bench/lib/fake_node.ts) answering from canned replies, so the
// server takes little CPU from the client and the figure varies less on a busy machine.
const fake = flag('fake') === true;
// --inproc: the fake node in this process (one thread: the same batches whatever the machine's load; CPU/op then includes the fake node's small, equal share).
const inproc = flag('inproc') === true;

/** Starts the fake node; resolves with its port and a stop function. */
const startFake = async (): Promise<{ port: number; stop: () => Promise<void> }> => {
  const child = track(spawn(process.execPath, ['--import', 'tsx', 'bench/lib/fake_node.ts'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] }));
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (l) => {
      if (l.startsWith('PORT ')) resolve(Number(l.slice(5)));
    });
    child.once('exit', (code) => reject(new Error(`fake node exited with ${code}`)));
  });
  return { port, stop: () => stopProcess(child, 1000) };
};

const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(16, '0')}`);


// Young-generation collections per op: a count that follows the bytes allocated per request and,
// unlike CPU time, hardly moves when other processes compete for the cores.
let scavenges = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
}).observe({ entryTypes: ['gc'] });

const run = async (create: CreateClient, address: string, op: 'get' | 'put'): Promise<{ cpuUsPerOp: number; opsPerSec: number; scavengesPer100kOps: number }> => {
  const client = create({ nodes: [address], timeoutMs: 10_000 });
  const value = Buffer.alloc(100, 0x61);
  try {
    await forEachConcurrent(keys, inflight, (i) => client.put(keyOf(i), value));
    let i = 0;
    let cpuAt: NodeJS.CpuUsage | undefined;
    let scavengesAt = 0;
    const sampler = setTimeout(() => {
      cpuAt = process.cpuUsage();
      scavengesAt = scavenges;
    }, warmupMs);
    const r = await closedLoop({
      inflight,
      warmupMs,
      durationMs,
      op: () => {
        i = (i + 7919) % keys;
        return op === 'get' ? client.getRaw(keyOf(i)) : client.put(keyOf(i), value);
      },
    });
    clearTimeout(sampler);
    const used = process.cpuUsage(cpuAt);
    if (r.errors > 0) throw new Error(`${r.errors} errors, first: ${r.firstError}`);
    // GC entries arrive asynchronously: let the last ones in.
    await new Promise((res) => setTimeout(res, 50));
    return { cpuUsPerOp: (used.user + used.system) / r.ops, opsPerSec: r.opsPerSec, scavengesPer100kOps: ((scavenges - scavengesAt) * 1e5) / r.ops };
  } finally {
    await client.close();
  }
};

const main = async (): Promise<void> => {
  const sdks: [string, CreateClient][] = [['this tree', (await import('../src/client/index.js')).createClient as unknown as CreateClient]];
  if (typeof baseline === 'string') {
    const mod = (await import(pathToFileURL(resolve(baseline, 'src/client/index.ts')).href)) as { createClient: CreateClient };
    sdks.unshift(['baseline', mod.createClient]);
  }
  const node = inproc ? await (async () => {
    const f = await startFakeNode();
    return { port: f.port, stop: () => f.close() };
  })() : fake ? await startFake() : await spawnRingkvNode({ backend: 'memory' });
  const address = `127.0.0.1:${node.port}`;
  console.log(`client CPU per op against ${inproc ? 'an in-process fake node' : fake ? 'a fake node' : 'a ringkv node (memory)'}, ${inflight} in flight, ${rounds} rounds of ${warmupMs} + ${durationMs} ms per SDK`);
  try {
    for (const op of ops) {
      const cpu = new Map<string, number[]>(sdks.map(([n]) => [n, []]));
      const gcs = new Map<string, number[]>(sdks.map(([n]) => [n, []]));
      const rate = new Map<string, number[]>(sdks.map(([n]) => [n, []]));
      for (let round = 0; round < rounds; round++) {
        for (const [name, create] of round % 2 === 0 ? sdks : [...sdks].reverse()) {
          const m = await run(create, address, op);
          cpu.get(name)!.push(m.cpuUsPerOp);
          rate.get(name)!.push(m.opsPerSec);
          gcs.get(name)!.push(m.scavengesPer100kOps);
          console.log(`${op} round ${round + 1} ${name}: ${m.cpuUsPerOp.toFixed(2)} µs CPU/op, ${Math.round(m.opsPerSec)} ops/s, ${m.scavengesPer100kOps.toFixed(1)} scavenges/100k ops`);
        }
      }
      for (const [name] of sdks) {
        console.log(`${op} ${name}: median ${median(cpu.get(name)!).toFixed(2)} µs CPU/op, ${Math.round(median(rate.get(name)!))} ops/s, ${median(gcs.get(name)!).toFixed(1)} scavenges/100k ops`);
      }
      if (sdks.length === 2) {
        // Each round ran both SDKs back to back: the median of the per-round ratios cancels slow phases of the machine.
        const a = cpu.get('this tree')!;
        const b = cpu.get('baseline')!;
        const ratio = median(a.map((x, i) => x / b[i]!));
        const gcRatio = median(gcs.get('this tree')!) / Math.max(1e-9, median(gcs.get('baseline')!));
        console.log(`${op} client CPU/op, this tree / baseline: ${ratio.toFixed(3)}x (median of per-round ratios); scavenges/op: ${gcRatio.toFixed(3)}x`);
      }
    }
  } finally {
    await node.stop();
  }
};

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

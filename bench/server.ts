/**
 * Single-node server benchmark (issue 4): one ringkv node in its own process,
 * the SDK as a closed-loop load generator (50 requests in flight by default),
 * 20-byte keys over a preloaded key space, 100-byte values. GET and PUT
 * ops/s and latency percentiles per backend (memory, log/none,
 * log/interval), side by side with Redis measured in the same run:
 * `redis-benchmark -c 50 -P 1` (the baseline, a C client) and the
 * same Node load generator through ioredis (same client-side costs as ringkv).
 *
 *   npm run bench:server [-- --quick] [--duration-ms 5000] [--warmup-ms 1000]
 *     [--inflight 50] [--keys 100000] [--value-bytes 100] [--loadgen-procs 1]
 *     [--connections 1] [--backends memory,memory-auth,memory-tls,log-none,log-interval] [--no-redis]
 *     [--rounds 3] [--ops get,put,ping] [--profile] [--node-entry dist/src/cli/main.js]
 *     [--compiled] [--node-args '--v8-flag ...'] [--loadgen-args '--v8-flag ...']
 *
 * `--compiled` (what `npm run bench:server` passes) builds and runs the bench,
 * its load generator and the nodes as plain JavaScript (bench/lib/compiled.ts).
 *
 * `--profile` runs each node under `--cpu-prof` and prints its top functions
 * by self time (bench/results/server.<backend>.top.txt); pair it with
 * `--node-entry` pointing at a compiled CLI for readable names and lines.
 *
 * Writes bench/results/server.json and bench/results/server.md. Every child
 * process is killed by PID at the end (also on error or Ctrl-C).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { nodeArgsFor, reexecCompiled } from './lib/compiled.js';
import { Slots } from './lib/slots.js';
import { median } from './lib/timing.js';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '../src/client/index.js';
import { Redis } from 'ioredis';
import { closedLoop, forEachConcurrent } from './lib/loadgen.js';
import { addEncoded, encodeHistogram, fmtRate, fmtUs, newHistogram, summarize, type LatencySummary } from './lib/latency.js';
import { cpuTimeMs, mainWithDeadline, repoRoot, runBounded, spawnRedis, spawnRingkvNode, stopProcess, track, which, type Spawned } from './lib/procs.js';
import { readProfile, selfTimes, selfTimesByFile, type SelfTime } from './lib/cpuprofile.js';
import { createRng } from './ycsb/random.js';
import { addUser } from '../src/auth/users.js';
import { Secret } from '../src/auth/secret.js';
import { generateDevPki, requireOpenssl, type DevPki } from '../src/cli/certs.js';

/** The user the `memory-auth` target's load generator logs in as (a throwaway node's throwaway user). */
const BENCH_LOGIN = { user: 'bench', password: 'bench-password' } as const;

// ---- options ----

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const num = (name: string, fallback: number): number => {
  const v = opt(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
  return n;
};

/** What one load-generator process does (in the bench process, or a child given this as JSON). */
interface Job {
  readonly target: 'ringkv' | 'redis';
  readonly port: number;
  readonly inflight: number;
  readonly connections: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** This process preloads and writes keys i with i % procs === proc (so it holds their contexts). */
  readonly proc: number;
  readonly procs: number;
  readonly seed: number;
  /** Phases to measure (all by default; one alone makes a cleaner --profile). */
  readonly ops: readonly Phase[];
  /** 1-based round number: picks this round's key space. */
  readonly round: number;
  /** Log in (a node started with --auth). */
  readonly login?: { readonly user: string; readonly password: string };
  /** Connect with TLS trusting this CA (PEM text: a Job crosses to load-generator processes as JSON). */
  readonly tlsCaPem?: string;
}

interface PhaseOut {
  readonly ops: number;
  readonly errors: number;
  readonly elapsedMs: number;
  readonly histogram: string;
  readonly firstError: string | undefined;
}

/**
 * The measured phases, in the order they run: GET, PUT, then PING, the
 * transport floor (a frame each way, no storage work: what any request costs
 * before it does anything).
 */
type Phase = 'get' | 'put' | 'ping';
const PHASES: readonly Phase[] = ['get', 'put', 'ping'];

type JobOut = Record<Phase, PhaseOut>;

/**
 * 20-byte keys, as the issue asks: `k<round digit>:` and 17 digits. Every
 * round preloads fresh keys, so a later round's blind preload never lands on
 * an earlier round's key (which would make it a sibling and bloat the GETs).
 */
const keyOf = (i: number, round: number): Buffer => Buffer.from(`k${round % 10}:${String(i).padStart(17, '0')}`);

/**
 * Preloads this process's share of keys, then (after `ready` resolves with a
 * wall-clock start time) measures GET, then PUT. PUTs send the context of
 * the key's last write, so they overwrite (as Redis SET does) instead of
 * piling up siblings.
 */
const runJob = async (job: Job, ready: () => Promise<number>): Promise<JobOut> => {
  // Keys (all the same width) and contexts live in Slots, not one Buffer per key (bench/lib/slots.ts).
  const keySlots = new Slots(job.keys, keyOf(0, job.round).length);
  for (let i = 0; i < job.keys; i++) keySlots.set(i, keyOf(i, job.round));
  const key = (i: number): Buffer => keySlots.at(i)!;
  const value = Buffer.alloc(job.valueBytes, 0x61);
  const rngs = Array.from({ length: job.inflight }, (_, i) => createRng(job.seed * 1000 + job.proc * 100 + i));
  const mine = Math.ceil((job.keys - job.proc) / job.procs);
  const myKey = (j: number): number => j * job.procs + job.proc;

  let get: (i: number) => Promise<unknown>;
  let put: (i: number) => Promise<unknown>;
  let ping: (i: number) => Promise<unknown>;
  let close: () => Promise<void>;
  if (job.target === 'ringkv') {
    const client = createClient({
      nodes: [`127.0.0.1:${job.port}`],
      connectionsPerNode: job.connections,
      timeoutMs: 10_000,
      ...job.login,
      ...(job.tlsCaPem !== undefined ? { tls: { ca: job.tlsCaPem } } : {}),
    });
    const contexts = new Slots(job.keys, 64);
    await forEachConcurrent(mine, job.inflight, async (j) => {
      const k = myKey(j);
      contexts.set(k, (await client.put(key(k), value)).context);
    });
    get = (loop) => client.get(key(rngs[loop]!.int(job.keys)));
    put = async (loop) => {
      const k = myKey(rngs[loop]!.int(mine));
      const ctx = contexts.at(k);
      contexts.set(k, (await client.put(key(k), value, ctx === undefined ? {} : { context: ctx })).context);
    };
    ping = () => client.ping();
    close = () => client.close();
  } else {
    const redis = new Redis({ host: '127.0.0.1', port: job.port, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
    await redis.connect();
    await forEachConcurrent(mine, job.inflight, (j) => redis.set(key(myKey(j)), value));
    get = (loop) => redis.getBuffer(key(rngs[loop]!.int(job.keys)));
    put = (loop) => redis.set(key(myKey(rngs[loop]!.int(mine))), value);
    ping = () => redis.ping();
    close = async () => {
      redis.disconnect();
    };
  }
  try {
    const startAtEpochMs = await ready();
    const phase = async (op: (i: number) => Promise<unknown>, startAt: number): Promise<PhaseOut> => {
      const r = await closedLoop({ inflight: job.inflight, warmupMs: job.warmupMs, durationMs: job.durationMs, op, startAtEpochMs: startAt });
      return { ops: r.ops, errors: r.errors, elapsedMs: r.elapsedMs, histogram: encodeHistogram(r.histogram), firstError: r.firstError };
    };
    const skipped: PhaseOut = { ops: 0, errors: 0, elapsedMs: job.durationMs, histogram: encodeHistogram(newHistogram()), firstError: undefined };
    // Every phase has its slot on the wall-clock schedule, run or not, so all processes agree on it.
    const run = { get, put, ping };
    const out = {} as Record<Phase, PhaseOut>;
    for (const [slot, ph] of PHASES.entries()) out[ph] = job.ops.includes(ph) ? await phase(run[ph], startAtEpochMs + slot * phaseSpanMs(job)) : skipped;
    return out;
  } finally {
    await close();
  }
};

/** Time between the GET and PUT phase starts: every process runs both phases on the same wall-clock schedule. */
const phaseSpanMs = (job: Pick<Job, 'warmupMs' | 'durationMs'>): number => job.warmupMs + job.durationMs + 300;

// ---- child mode: one load-generator process ----

const childMain = async (job: Job): Promise<void> => {
  // Stopped by SIGTERM once its result is in: exit normally, so --loadgen-args '--cpu-prof' writes its profile.
  process.on('SIGTERM', () => process.exit(0));
  const lines = createInterface({ input: process.stdin });
  const it = lines[Symbol.asyncIterator]();
  const out = await runJob(job, async () => {
    process.stdout.write('READY\n');
    const next = await it.next();
    return Number(next.value);
  });
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
  lines.close();
};

// ---- parent: run a target with 1..n load-generator processes ----

interface Measured {
  readonly opsPerSec: number;
  readonly errors: number;
  readonly latency: LatencySummary;
  /** CPU use over the measured window, % of one core. */
  readonly serverCpuPct: number | undefined;
  readonly clientCpuPct: number | undefined;
  readonly firstError?: string;
}

const BENCH_FILE = fileURLToPath(import.meta.url);

/** Runs GET then PUT against one server; samples server and load-generator CPU over each measured window. */
const measure = async (target: Job['target'], server: Spawned, o: Options, round: number, login?: Job['login'], tlsCaPem?: string): Promise<Record<Phase, Measured>> => {
  const base = {
    ...(login !== undefined ? { login } : {}),
    ...(tlsCaPem !== undefined ? { tlsCaPem } : {}),
    round, target, port: server.port, inflight: 0, connections: o.connections, keys: o.keys, valueBytes: o.valueBytes, warmupMs: o.warmupMs, durationMs: o.durationMs, procs: o.loadgenProcs, seed: o.seed, ops: o.ops };
  const perProc = (p: number): number => Math.floor(o.inflight / o.loadgenProcs) + (p < o.inflight % o.loadgenProcs ? 1 : 0);
  const clientPids: number[] = [];
  let outs: Promise<JobOut>[];
  let release: (startAt: number) => void;
  let readyAll: Promise<void>;
  const inProcess = o.inProcessLoadgen && o.loadgenProcs === 1;
  if (inProcess) {
    let resolveReady!: () => void;
    readyAll = new Promise<void>((r) => (resolveReady = r));
    let go!: (t: number) => void;
    const started = new Promise<number>((r) => (go = r));
    release = go;
    outs = [runJob({ ...base, proc: 0, inflight: perProc(0) }, () => (resolveReady(), started))];
  } else {
    const readies: Promise<void>[] = [];
    const children = Array.from({ length: o.loadgenProcs }, (_, p) => {
      const job: Job = { ...base, proc: p, inflight: perProc(p) };
      const child = track(spawn(process.execPath, [...o.loadgenArgs, ...nodeArgsFor(BENCH_FILE), '--loadgen-child', JSON.stringify(job)], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] }));
      clientPids.push(child.pid!);
      const lines = createInterface({ input: child.stdout! });
      let onReady!: () => void;
      readies.push(new Promise<void>((r) => (onReady = r)));
      const result = new Promise<JobOut>((resolve, reject) => {
        lines.on('line', (l) => {
          if (l === 'READY') onReady();
          else if (l.startsWith('RESULT ')) resolve(JSON.parse(l.slice(7)) as JobOut);
          else if (o.loadgenArgs.length > 0) process.stderr.write(`[loadgen ${p}] ${l}\n`);
        });
        child.once('exit', (code) => reject(new Error(`load generator ${p} exited with ${code} before its result`)));
      });
      return { child, result };
    });
    readyAll = Promise.all(readies).then(() => undefined);
    release = (t) => children.forEach((c) => c.child.stdin!.write(`${t}\n`));
    outs = children.map((c) => c.result.finally(() => stopProcess(c.child, 1000)));
  }
  await Promise.race([readyAll, Promise.all(outs)]);
  // Children need a moment to read the start time; in-process needs none.
  const startAt = Date.now() + (inProcess ? 20 : 200);
  release(startAt);
  const clientCpu = (): number | undefined => {
    if (clientPids.length === 0) {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    }
    let sum = 0;
    for (const pid of clientPids) {
      const t = cpuTimeMs(pid);
      if (t === undefined) return undefined;
      sum += t;
    }
    return sum;
  };
  // CPU samples at the edges of every measured window, on the same wall-clock schedule as the loops.
  const samples: { server: number | undefined; client: number | undefined }[] = [];
  const at = (t: number) =>
    new Promise<void>((r) =>
      setTimeout(() => {
        samples.push({ server: cpuTimeMs(server.pid), client: clientCpu() });
        r();
      }, Math.max(0, t - Date.now())),
    );
  const span = phaseSpanMs(o);
  const lastSlot = Math.max(...o.ops.map((ph) => PHASES.indexOf(ph)));
  const sampling = (async () => {
    for (let slot = 0; slot <= lastSlot; slot++) {
      await at(startAt + slot * span + o.warmupMs);
      await at(startAt + slot * span + o.warmupMs + o.durationMs);
    }
  })();
  const results = await Promise.all(outs);
  await sampling;
  const pct = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : Math.round(((b - a) / o.durationMs) * 1000) / 10;
  const merge = (which: Phase, s0: number): Measured => {
    const h = newHistogram();
    let ops = 0;
    let errors = 0;
    let elapsedMs = 0;
    let firstError: string | undefined;
    for (const r of results) {
      addEncoded(h, r[which].histogram);
      ops += r[which].ops;
      errors += r[which].errors;
      elapsedMs = Math.max(elapsedMs, r[which].elapsedMs);
      firstError ??= r[which].firstError;
    }
    return {
      opsPerSec: Math.round((ops * 1000) / elapsedMs),
      errors,
      latency: summarize(h),
      serverCpuPct: pct(samples[s0]?.server, samples[s0 + 1]?.server),
      clientCpuPct: pct(samples[s0]?.client, samples[s0 + 1]?.client),
      ...(firstError !== undefined ? { firstError } : {}),
    };
  };
  return { get: merge('get', 0), put: merge('put', 2), ping: merge('ping', 4) };
};

// ---- redis-benchmark ----

interface RedisBenchRow {
  readonly opsPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** Parses `redis-benchmark --csv`: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms". */
export const parseRedisBenchmarkCsv = (csv: string): Record<string, RedisBenchRow> => {
  const out: Record<string, RedisBenchRow> = {};
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((s) => s.replace(/"/g, ''));
  const col = (name: string) => header.indexOf(name);
  for (const line of lines.slice(1)) {
    const f = line.split(',').map((s) => s.replace(/"/g, ''));
    const name = f[0]!;
    const get = (c: string) => Number(f[col(c)]);
    out[name] = { opsPerSec: Math.round(get('rps')), p50Us: Math.round(get('p50_latency_ms') * 1000), p99Us: Math.round(get('p99_latency_ms') * 1000), maxUs: Math.round(get('max_latency_ms') * 1000) };
  }
  return out;
};

const redisBenchmark = (port: number, o: Options): Record<string, RedisBenchRow> | string => {
  const bin = which('redis-benchmark');
  if (bin === undefined) return 'redis-benchmark not installed';
  // Requests sized so each test runs about as long as a ringkv phase (Redis does ~100k/s here with -c 50).
  const n = Math.max(10_000, Math.round(100 * o.durationMs));
  const csv = runBounded(bin, ['-h', '127.0.0.1', '-p', String(port), '-c', String(o.inflight), '-P', '1', '-n', String(n), '-t', 'get,set', '-d', String(o.valueBytes), '-r', String(o.keys), '--csv'], 60_000 + 20 * o.durationMs);
  return parseRedisBenchmarkCsv(csv);
};

// ---- main ----

interface Options {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly inflight: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly loadgenProcs: number;
  readonly connections: number;
  readonly backends: readonly string[];
  readonly redis: boolean;
  readonly profile: boolean;
  readonly seed: number;
  readonly quick: boolean;
  /** A compiled CLI (dist/src/cli/main.js) to run instead of src/cli/main.ts under tsx. */
  readonly nodeEntry: string | undefined;
  /** --node-args '--single-threaded-gc ...': V8/Node flags for every ringkv node (A/B runs). */
  readonly nodeArgs: readonly string[];
  /** --loadgen-args '--trace-gc ...': V8/Node flags for every load-generator child (stderr and stdout lines other than READY/RESULT go to the terminal). */
  readonly loadgenArgs: readonly string[];
  /**
   * --in-process-loadgen: drive the load from the bench process itself (one
   * generator). By default every target is loaded by fresh child processes:
   * a generator that has already driven other targets (other SDK options,
   * ioredis) runs its shared code paths polymorphic; it measured PUT on
   * memory at 109.8k ops/s, 6.0 µs/op against 170.0k, 3.3 µs/op fresh.
   */
  readonly inProcessLoadgen: boolean;
  readonly ops: readonly Phase[];
  /** Rounds over all targets, interleaved; tables show the median round. */
  readonly rounds: number;
}

const TARGETS = { opsPerSec: 200_000, redisRatio: 1.0, p999Us: 2000 } as const;
/** Issue #9: throughput with TLS at least this fraction of plaintext at the same load. */
const TLS_RATIO_TARGET = 0.6;

/** `memory-auth`: the memory backend with client authentication on (SCRAM at connect, issue #9), to show auth costs nothing per request. */
/** `memory-tls`: the memory backend serving TLS only (issue #9), for the TLS / plaintext ratio at the same load. */
const backendSpec = (name: string): { backend: string; durability?: 'none' | 'interval' | 'always'; auth?: boolean; tls?: boolean } => {
  if (name === 'memory') return { backend: 'memory' };
  if (name === 'memory-auth') return { backend: 'memory', auth: true };
  if (name === 'memory-tls') return { backend: 'memory', tls: true };
  const m = /^(log|lmdb)-(none|interval|always)$/.exec(name);
  if (m === null) throw new Error(`unknown backend '${name}' (memory, log-none, log-interval, log-always, lmdb-none, ...)`);
  return { backend: m[1]!, durability: m[2] as 'none' | 'interval' | 'always' };
};

interface Row {
  readonly target: string;
  /** The round with the median ops/s. */
  readonly get: Measured;
  readonly put: Measured;
  readonly ping: Measured;
  /** ops/s of every round, in order. */
  readonly getRounds: readonly number[];
  readonly putRounds: readonly number[];
  readonly pingRounds: readonly number[];
}

const main = async (): Promise<void> => {
  const quick = flag('quick');
  const o: Options = {
    quick,
    durationMs: num('duration-ms', quick ? 1000 : 3000),
    warmupMs: num('warmup-ms', quick ? 300 : 1000),
    inflight: num('inflight', 50),
    keys: num('keys', quick ? 10_000 : 100_000),
    valueBytes: num('value-bytes', 100),
    loadgenProcs: Math.max(1, num('loadgen-procs', 1)),
    connections: Math.max(1, num('connections', 1)),
    backends: (opt('backends') ?? (quick ? 'memory,memory-auth,memory-tls' : 'memory,memory-auth,memory-tls,log-none,log-interval')).split(',').filter((s) => s !== ''),
    redis: !flag('no-redis'),
    profile: flag('profile'),
    seed: num('seed', 1),
    nodeEntry: opt('node-entry'),
    nodeArgs: (opt('node-args') ?? '').split(/\s+/).filter((a) => a !== ''),
    loadgenArgs: (opt('loadgen-args') ?? '').split(/\s+/).filter((a) => a !== ''),
    inProcessLoadgen: flag('in-process-loadgen'),
    rounds: Math.max(1, num('rounds', quick ? 1 : 3)),
    ops: (opt('ops') ?? 'get,put,ping').split(',').map((x) => {
      if (!(PHASES as readonly string[]).includes(x)) throw new Error(`--ops takes a list of get, put, ping; got ${x}`);
      return x as Phase;
    }),
  };
  o.backends.forEach(backendSpec);
  console.log(
    `bench:server — ${o.inflight} in flight (closed loop), ${o.loadgenProcs} load-generator process(es), ${o.connections} connection(s) per process, ` +
      `${o.keys} keys of 20 B, ${o.valueBytes}-B values, ${o.warmupMs} ms warm-up + ${o.durationMs} ms per phase; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`,
  );
  interface Server {
    readonly label: string;
    readonly target: Job['target'];
    readonly spawned: Spawned;
    readonly profDir: string | undefined;
    readonly login?: Job['login'];
    readonly tlsCaPem?: string;
  }
  const servers: Server[] = [];
  /** Certificates for the memory-tls target, made once per run with openssl. */
  let pki: DevPki | undefined;
  const perRound = new Map<string, Record<Phase, Measured>[]>();
  const rbRounds: Record<string, RedisBenchRow>[] = [];
  const profiles: Record<string, SelfTime[]> = {};
  let redisNote: string | undefined;
  try {
    // Every server runs for the whole bench and the rounds interleave them, so a burst of load from
    // elsewhere on the machine hits all targets alike instead of whichever one ran at that moment.
    for (const name of o.backends) {
      const { auth, tls, ...spec } = backendSpec(name);
      let tlsArgs: string[] = [];
      let tlsCaPem: string | undefined;
      if (tls === true) {
        try {
          requireOpenssl();
        } catch (e) {
          console.log(`skipping ${name}: ${(e as Error).message}`);
          continue;
        }
        pki ??= generateDevPki(mkdtempSync(join(tmpdir(), 'ringkv-bench-tls-')), ['n1'], 2);
        const own = pki.nodes['n1']!;
        tlsArgs = ['--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', pki.ca];
        tlsCaPem = readFileSync(pki.ca, 'utf8');
      }
      const profDir = o.profile ? mkdtempSync(join(tmpdir(), 'ringkv-prof-')) : undefined;
      const login = auth === true ? BENCH_LOGIN : undefined;
      const spawned = await spawnRingkvNode({
        ...spec,
        ...(login !== undefined
          ? { extraArgs: ['--auth'], login, setup: (dir: string) => void addUser(dir, login.user, 'readwrite', new Secret(login.password)) }
          : {}),
        ...(tlsCaPem !== undefined ? { extraArgs: tlsArgs, clientTls: { ca: tlsCaPem } } : {}),
        nodeArgs: [...o.nodeArgs, ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [])],
        ...(o.nodeEntry !== undefined ? { entry: o.nodeEntry } : {}),
      });
      servers.push({ label: `ringkv ${name}`, target: 'ringkv', spawned, profDir, ...(login !== undefined ? { login } : {}), ...(tlsCaPem !== undefined ? { tlsCaPem } : {}) });
    }
    if (!o.redis) redisNote = 'Redis skipped (--no-redis)';
    else {
      const redis = which('redis-server') === undefined ? undefined : await spawnRedis();
      if (redis === undefined) redisNote = 'Redis absent: redis-server is not installed (Debian: apt-get install redis-server); no ratios';
      else servers.push({ label: 'redis (ioredis, same loadgen)', target: 'redis', spawned: redis, profDir: undefined });
    }
    for (let round = 1; round <= o.rounds; round++) {
      for (const s of servers) {
        process.stdout.write(`round ${round}/${o.rounds}: ${s.label} (pid ${s.spawned.pid}) ... `);
        const m = await measure(s.target, s.spawned, o, round, s.login, s.tlsCaPem);
        perRound.set(s.label, [...(perRound.get(s.label) ?? []), m]);
        console.log(`GET ${fmtRate(m.get.opsPerSec)}/s, ${s.target === 'redis' ? 'SET' : 'PUT'} ${fmtRate(m.put.opsPerSec)}/s, PING ${fmtRate(m.ping.opsPerSec)}/s`);
      }
      const redis = servers.find((s) => s.target === 'redis');
      if (redis !== undefined) {
        process.stdout.write(`round ${round}/${o.rounds}: redis-benchmark -c ${o.inflight} -P 1 ... `);
        const rb = redisBenchmark(redis.spawned.port, o);
        if (typeof rb === 'string') redisNote = rb;
        else {
          rbRounds.push(rb);
          console.log(`GET ${fmtRate(rb['GET']?.opsPerSec ?? 0)}/s, SET ${fmtRate(rb['SET']?.opsPerSec ?? 0)}/s`);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.spawned.stop()));
    if (pki !== undefined) rmSync(pki.dir, { recursive: true, force: true });
  }
  for (const s of servers) {
    if (s.profDir === undefined) continue;
    const name = s.label.replace(/^ringkv /, '');
    const file = readdirSync(s.profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file !== undefined) {
      const profile = readProfile(join(s.profDir, file));
      profiles[name] = selfTimes(profile, 40);
      const line = (t: SelfTime) => `${t.sharePct.toFixed(1).padStart(5)}%  ${t.fn.padEnd(40)} ${t.where}`;
      mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
      writeFileSync(
        join(repoRoot, 'bench/results', `server.${name}.top.txt`),
        `self time by function:\n${profiles[name]!.map(line).join('\n')}\n\nself time by file:\n${selfTimesByFile(profile, 25).map(line).join('\n')}\n`,
      );
    }
    rmSync(s.profDir, { recursive: true, force: true });
  }
  /** The round with the median ops/s stands for the target (its latencies come along). */
  const medianRound = (ms: readonly Measured[]): Measured => [...ms].sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor((ms.length - 1) / 2)]!;
  const rows: Row[] = servers.map((s) => {
    const rs = perRound.get(s.label) ?? [];
    return {
      target: s.label,
      get: medianRound(rs.map((r) => r.get)),
      put: medianRound(rs.map((r) => r.put)),
      ping: medianRound(rs.map((r) => r.ping)),
      getRounds: rs.map((r) => r.get.opsPerSec),
      putRounds: rs.map((r) => r.put.opsPerSec),
      pingRounds: rs.map((r) => r.ping.opsPerSec),
    };
  });
  const redisBench: Record<string, RedisBenchRow> | undefined =
    rbRounds.length === 0
      ? undefined
      : Object.fromEntries(
          ['GET', 'SET'].map((t) => {
            const rs = rbRounds.map((r) => r[t]).filter((r): r is RedisBenchRow => r !== undefined);
            return [t, [...rs].sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor((rs.length - 1) / 2)]!];
          }),
        );
  /** Median over rounds of the per-round ratio: each ratio compares runs made minutes apart at most. */
  const ratioOf = (label: string, op: Phase, base: (round: number) => number | undefined): number | undefined => {
    const rs = perRound.get(label) ?? [];
    const ratios = rs.flatMap((r, i) => {
      const b = base(i);
      return b === undefined || b === 0 ? [] : [r[op].opsPerSec / b];
    });
    return ratios.length === 0 ? undefined : Math.round(median(ratios) * 100) / 100;
  };
  const vsBench = (label: string, op: 'get' | 'put') => ratioOf(label, op, (i) => rbRounds[i]?.[op === 'get' ? 'GET' : 'SET']?.opsPerSec);
  const vsIoredis = (label: string, op: Phase) => ratioOf(label, op, (i) => perRound.get('redis (ioredis, same loadgen)')?.[i]?.[op].opsPerSec);

  // ---- report ----
  const table: string[] = [];
  table.push('| target | op | ops/s (median) | rounds ops/s | p50 | p99 | p99.9 | max | server CPU | loadgen CPU | server CPU/op | loadgen CPU/op | × redis-benchmark | × redis same loadgen |');
  table.push('|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    for (const [op, m, rounds] of [
      ['get', r.get, r.getRounds],
      ['put', r.put, r.putRounds],
      ['ping', r.ping, r.pingRounds],
    ] as const) {
      if (!o.ops.includes(op)) continue;
      const l = m.latency;
      const cpu = (v: number | undefined) => (v === undefined ? '–' : `${v}%`);
      // CPU time per op holds up on a contended machine better than ops/s does.
      const perOp = (v: number | undefined) => (v === undefined || m.opsPerSec === 0 ? '–' : `${(((v / 100) * 1e6) / m.opsPerSec).toFixed(1)} µs`);
      const isRingkv = r.target.startsWith('ringkv');
      const opName = op === 'get' ? 'GET' : op === 'ping' ? 'PING' : isRingkv ? 'PUT' : 'SET';
      table.push(
        `| ${r.target} | ${opName} | ${fmtRate(m.opsPerSec)} | ${rounds.map(fmtRate).join(', ')} | ${fmtUs(l.p50Us)} | ${fmtUs(l.p99Us)} | ${fmtUs(l.p999Us)} | ${fmtUs(l.maxUs)} | ${cpu(m.serverCpuPct)} | ${cpu(m.clientCpuPct)} | ${perOp(m.serverCpuPct)} | ${perOp(m.clientCpuPct)} | ` +
          `${isRingkv && op !== 'ping' ? (vsBench(r.target, op)?.toFixed(2) ?? '–') : '–'} | ${isRingkv ? (vsIoredis(r.target, op)?.toFixed(2) ?? '–') : '–'} |` +
          (m.errors > 0 ? ` ${m.errors} errors: ${m.firstError}` : ''),
      );
    }
  }
  if (redisBench !== undefined) {
    for (const t of ['GET', 'SET'] as const) {
      const b = redisBench[t];
      const rounds = rbRounds.map((r) => fmtRate(r[t]?.opsPerSec ?? 0)).join(', ');
      if (b) table.push(`| redis-benchmark -c ${o.inflight} -P 1 | ${t} | ${fmtRate(b.opsPerSec)} | ${rounds} | ${fmtUs(b.p50Us)} | ${fmtUs(b.p99Us)} | – | ${fmtUs(b.maxUs)} | – | – | – | – | – | – |`);
    }
  }
  const mem = rows.find((r) => r.target === 'ringkv memory');
  const targets: string[] = [];
  if (mem !== undefined && o.ops.includes('get') && o.ops.includes('put')) {
    const met = (b: boolean) => (b ? 'met' : 'NOT met');
    targets.push(`- GET ≥ ${fmtRate(TARGETS.opsPerSec)}/s (memory): ${fmtRate(mem.get.opsPerSec)}/s — ${met(mem.get.opsPerSec >= TARGETS.opsPerSec)}`);
    targets.push(`- PUT ≥ ${fmtRate(TARGETS.opsPerSec)}/s (memory): ${fmtRate(mem.put.opsPerSec)}/s — ${met(mem.put.opsPerSec >= TARGETS.opsPerSec)}`);
    const g = vsBench(mem.target, 'get');
    const p = vsBench(mem.target, 'put');
    if (g !== undefined && p !== undefined) {
      targets.push(`- ≥ ${TARGETS.redisRatio.toFixed(1)}× redis-benchmark -c ${o.inflight} -P 1 (median of per-round ratios): GET ${g.toFixed(2)}×, SET ${p.toFixed(2)}× — ${met(g >= TARGETS.redisRatio && p >= TARGETS.redisRatio)}`);
    } else targets.push(`- ≥ 1.0× Redis: not measured (${redisNote ?? 'no redis-benchmark numbers'})`);
    const worst = Math.max(mem.get.latency.p999Us, mem.put.latency.p999Us);
    targets.push(`- p99.9 ≤ ${fmtUs(TARGETS.p999Us)} (memory): GET ${fmtUs(mem.get.latency.p999Us)}, PUT ${fmtUs(mem.put.latency.p999Us)} — ${met(worst <= TARGETS.p999Us)}`);
    // Server and load generator share the machine's cores, so their CPU per request bounds the rate
    // whatever the scheduling: the ceiling below is what the cores give at 100% use by these two.
    const budgetUs = (cpus().length * 1e6) / TARGETS.opsPerSec;
    const ceiling = (op: Phase): string => {
      const m = mem[op];
      if (m.serverCpuPct === undefined || m.clientCpuPct === undefined || m.opsPerSec === 0) return `${op.toUpperCase()} –`;
      const server = (m.serverCpuPct / 100) * 1e6 / m.opsPerSec;
      const client = (m.clientCpuPct / 100) * 1e6 / m.opsPerSec;
      return `${op.toUpperCase()} ${fmtRate((cpus().length * 1e6) / (server + client))}/s (${server.toFixed(1)} + ${client.toFixed(1)} µs)`;
    };
    targets.push(
      `- CPU ceiling on ${cpus().length} cores (server + load-generator CPU per request; the rate these cores give at 100% use): ${(['get', 'put', 'ping'] as const).filter((op) => o.ops.includes(op)).map(ceiling).join(', ')}; ` +
        `${fmtRate(TARGETS.opsPerSec)}/s needs ≤ ${budgetUs.toFixed(1)} µs per request in total`,
    );
  }
  // Issue #9: authentication happens once per connection, so the same load with auth on should run at ~1.0x.
  const withAuth = rows.find((r) => r.target === 'ringkv memory-auth');
  if (mem !== undefined && withAuth !== undefined) {
    const vsPlain = (op: 'get' | 'put') => ratioOf(withAuth.target, op, (i) => perRound.get(mem.target)?.[i]?.[op].opsPerSec);
    targets.push(`- auth on / auth off (memory, same load, median of per-round ratios): GET ${vsPlain('get')?.toFixed(2) ?? '–'}×, PUT ${vsPlain('put')?.toFixed(2) ?? '–'}× (SCRAM runs once per connection; no per-request cost is expected)`);
  }
  // Issue #9 target: TLS throughput ≥ 60% of plaintext at the same load (same run, per-round ratios).
  const withTls = rows.find((r) => r.target === 'ringkv memory-tls');
  if (mem !== undefined && withTls !== undefined) {
    const vsPlain = (op: 'get' | 'put') => ratioOf(withTls.target, op, (i) => perRound.get(mem.target)?.[i]?.[op].opsPerSec);
    const g = vsPlain('get');
    const p = vsPlain('put');
    const met = g !== undefined && p !== undefined && g >= TLS_RATIO_TARGET && p >= TLS_RATIO_TARGET;
    targets.push(
      `- TLS / plaintext ≥ ${TLS_RATIO_TARGET.toFixed(2)} (memory, same load, median of per-round ratios): GET ${g?.toFixed(2) ?? '–'}×, PUT ${p?.toFixed(2) ?? '–'}× — ${met ? 'met' : 'NOT met'}`,
    );
    // On a machine whose cores are busy with other work, ops/s swings by 2x between rounds; the CPU
    // a request costs (server + load generator) does not, and bounds the throughput the cores allow.
    const cpuPerOp = (m: Measured): number | undefined =>
      m.serverCpuPct === undefined || m.clientCpuPct === undefined || m.opsPerSec === 0 ? undefined : (m.serverCpuPct + m.clientCpuPct) / m.opsPerSec;
    const cpuRatio = (op: 'get' | 'put'): string => {
      const plain = cpuPerOp(mem[op]);
      const secure = cpuPerOp(withTls[op]);
      return plain === undefined || secure === undefined ? '–' : `${(plain / secure).toFixed(2)}×`;
    };
    targets.push(`- TLS / plaintext by CPU per request (server + load generator, median rounds; the throughput ratio when CPU is the limit): GET ${cpuRatio('get')}, PUT ${cpuRatio('put')}`);
  }
  const header =
    `${o.inflight} requests in flight (closed loop) from ${o.loadgenProcs} load-generator process(es) with ${o.connections} connection(s) each; ` +
    `${o.keys} preloaded 20-byte keys, ${o.valueBytes}-byte values; ${o.warmupMs} ms warm-up + ${o.durationMs} ms measured per phase; ` +
    `${o.rounds} round(s) interleaving all targets, each row is the median round, ratios are medians of per-round ratios. ` +
    `Latency in the load generator (HdrHistogram, µs). CPU = % of one core over the measured window (user+system from /proc; 2 cores in total, shared by client, server and anything else running); CPU/op = CPU time per completed request, the figure that survives a noisy machine best. ` +
    `ringkv PUTs carry the key's last context (an overwrite, like SET). Each round preloads its own key space. redis-benchmark keys are 16 bytes (\`key:\` + 12 digits).`;
  const md = [
    '# bench:server',
    '',
    `Run ${new Date().toISOString()}${o.quick ? ' (--quick)' : ''}, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} at start.`,
    '',
    header,
    '',
    ...table,
    '',
    ...(redisNote ? [`Note: ${redisNote}.`, ''] : []),
    '## Targets (issue 4)',
    '',
    ...targets,
    '',
  ].join('\n');
  console.log('\n' + table.join('\n') + '\n\n' + targets.join('\n') + (redisNote ? `\nNote: ${redisNote}` : ''));
  for (const [name, top] of Object.entries(profiles)) {
    console.log(`\nnode CPU profile, ${name} (self time, top 12):`);
    for (const s of top.slice(0, 12)) console.log(`${s.sharePct.toFixed(1).padStart(5)}%  ${s.fn.padEnd(40)} ${s.where}`);
  }
  if (o.profile) {
    // A profiled node is slower: its numbers must not replace the real results.
    console.log('\n--profile: bench/results/server.json and server.md left as they were');
    return;
  }
  const dir = join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'server.json'),
    JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, loadAvg: loadavg()[0], options: o, targets: TARGETS, rows, redisBenchmark: redisBench ?? null, redisNote: redisNote ?? null, profiles }, null, 2) + '\n',
  );
  writeFileSync(join(dir, 'server.md'), md);
  console.log('\nwrote bench/results/server.json and bench/results/server.md');
};

const childArg = opt('loadgen-child');
if (childArg !== undefined) {
  childMain(JSON.parse(childArg) as Job).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  // A bench that hangs on a shared machine is worse than one that fails: bound the whole run.
  reexecCompiled(import.meta.url);
  mainWithDeadline('bench:server', 600_000, main);
}

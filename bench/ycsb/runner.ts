/**
 * The two YCSB phases against one target:
 *
 * - load: inserts records 0..n-1 (`user<i>`) with `concurrency` requests in
 *   flight, as YCSB's `load` does;
 * - run: `concurrency` workers draw operations with the workload's mix and
 *   keys with its distribution from one seeded stream each, for a fixed
 *   duration, either closed-loop (each worker sends when its last request
 *   answered: maximum throughput) or open-loop at a fixed total rate, where
 *   latency counts from each operation's intended send time (schedule.ts).
 *
 * Latencies go into one HdrHistogram per operation kind; completions are
 * also counted per second of the run so a stall shows as a dip.
 */
import { performance } from 'node:perf_hooks';
import { newHistogram, recordUs, summarize, type Histogram, type LatencySummary } from '../lib/latency.js';
import { cpuTimeMs } from '../lib/procs.js';
import { chooser, InsertCounter, type Distribution } from './generators.js';
import { createRng, type Rng } from './random.js';
import { delayMs, dueBy, latencyMs, workerIntendedMs } from './schedule.js';
import type { Target } from './targets.js';
import { OP_KINDS, opChooser, type OpKind, type Workload } from './workloads.js';

export interface RunOptions {
  readonly workload: Workload;
  readonly distribution: Distribution;
  readonly records: number;
  readonly valueBytes: number;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Completions before this much time into the run are not recorded. */
  readonly warmupMs: number;
  /** Open loop at this many ops/s in total; undefined = closed loop. */
  readonly ratePerSec: number | undefined;
  readonly seed: number;
  readonly progress: (line: string) => void;
}

export interface OpStats extends LatencySummary {
  readonly errors: number;
  readonly notFound: number;
}

export interface PhaseResult {
  readonly ops: number;
  readonly errors: number;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  readonly latency: Readonly<Partial<Record<OpKind, OpStats>>>;
  /** Completions in each second of the phase (warm-up included). */
  readonly perSecond: readonly number[];
  /** Server CPU (all server processes) and bench-process CPU, µs per measured op; undefined when not measurable. */
  readonly serverCpuUsPerOp: number | undefined;
  readonly clientCpuUsPerOp: number | undefined;
  /** Open loop: operations due but not yet sent when the duration ended (the target fell behind). */
  readonly behindAtEnd?: number;
  /** Open loop: operations never sent because the run was cut off far behind schedule. */
  readonly unsent?: number;
  readonly firstError?: string;
}

export const keyName = (i: number): string => `user${i}`;

/** A few distinct values (seeded), reused: generating bytes per op would cost the bench more than the store. */
const valuePool = (bytes: number, seed: number): Buffer[] => {
  const rng = createRng(seed ^ 0x5eed);
  return Array.from({ length: 16 }, () => {
    const b = Buffer.allocUnsafe(bytes);
    for (let i = 0; i < bytes; i++) b[i] = 32 + rng.int(95); // printable, as YCSB's field values are
    return b;
  });
};

const ticker = (o: { progress: (l: string) => void }, label: string, done: () => number, extra: () => string = () => ''): (() => void) => {
  const t0 = performance.now();
  let last = 0;
  const timer = setInterval(() => {
    const d = done();
    o.progress(`[${label}] ${((performance.now() - t0) / 1000).toFixed(0)} s: ${d - last} ops in the last second, ${d} in all${extra()}`);
    last = d;
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
};

const cpuSampler = (target: Target): (() => { server: number | undefined; client: number }) => () => {
  let server: number | undefined = target.serverPids.length === 0 ? undefined : 0;
  for (const pid of target.serverPids) {
    const t = cpuTimeMs(pid);
    server = t === undefined || server === undefined ? undefined : server + t;
  }
  const u = process.cpuUsage();
  return { server, client: (u.user + u.system) / 1000 };
};

/** Inserts records 0..n-1. */
export const loadPhase = async (target: Target, o: Pick<RunOptions, 'records' | 'valueBytes' | 'concurrency' | 'seed' | 'progress'>): Promise<PhaseResult> => {
  const values = valuePool(o.valueBytes, o.seed);
  const h = newHistogram();
  let next = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const perSecond: number[] = [];
  const cpu = cpuSampler(target);
  const c0 = cpu();
  const t0 = performance.now();
  const stop = ticker(o, 'load', () => done);
  const worker = async (): Promise<void> => {
    while (next < o.records) {
      const i = next++;
      const s = performance.now();
      try {
        await target.insert(keyName(i), values[i & 15]!);
        const e = performance.now();
        recordUs(h, (e - s) * 1000);
        done++;
        const sec = Math.floor((e - t0) / 1000);
        perSecond[sec] = (perSecond[sec] ?? 0) + 1;
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        if (errors > 100 && done === 0) throw new Error(`load failed: ${firstError}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.concurrency, o.records) }, worker));
  } finally {
    stop();
  }
  const elapsedMs = performance.now() - t0;
  const c1 = cpu();
  const perOp = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || done === 0 ? undefined : Math.round(((b - a) * 1000 * 10) / done) / 10);
  return {
    ops: done,
    errors,
    elapsedMs: Math.round(elapsedMs),
    opsPerSec: Math.round((done * 1000) / elapsedMs),
    latency: { insert: { ...summarize(h), errors, notFound: 0 } },
    perSecond: Array.from(perSecond, (v) => v ?? 0),
    serverCpuUsPerOp: perOp(c0.server, c1.server),
    clientCpuUsPerOp: perOp(c0.client, c1.client),
    ...(firstError !== undefined ? { firstError } : {}),
  };
};

/** The workload's operations for `durationMs`. */
export const runPhase = async (target: Target, o: RunOptions): Promise<PhaseResult> => {
  const values = valuePool(o.valueBytes, o.seed + 1);
  const counter = new InsertCounter(o.records);
  const hist = new Map<OpKind, Histogram>(OP_KINDS.map((k) => [k, newHistogram()]));
  const errors = new Map<OpKind, number>(OP_KINDS.map((k) => [k, 0]));
  const notFound = new Map<OpKind, number>(OP_KINDS.map((k) => [k, 0]));
  const perSecond: number[] = [];
  const nextOp = opChooser(o.workload.mix);
  const keys = chooser(o.distribution, o.records, counter);
  const open = o.ratePerSec !== undefined;
  let measured = 0;
  let completed = 0;
  let sent = 0;
  let firstError: string | undefined;

  const doOp = async (kind: OpKind, rng: Rng): Promise<void> => {
    switch (kind) {
      case 'read':
        if (!(await target.read(keyName(keys.next(rng))))) notFound.set('read', notFound.get('read')! + 1);
        return;
      case 'update':
        return target.update(keyName(keys.next(rng)), values[rng.int(16)]!);
      case 'insert': {
        const k = counter.take();
        await target.insert(keyName(k), values[k & 15]!);
        counter.acknowledge(k);
        return;
      }
      case 'rmw': {
        const v = values[rng.int(16)]!;
        return target.readModifyWrite(keyName(keys.next(rng)), () => v);
      }
    }
  };

  const cpu = cpuSampler(target);
  let c0: ReturnType<typeof cpu> | undefined;
  const start = performance.now();
  const measureFrom = start + o.warmupMs;
  const end = start + o.durationMs;
  // CPU is sampled at the edges of the measured window.
  const warmTimer = setTimeout(() => (c0 = cpu()), o.warmupMs);
  let behindAtEnd = 0;
  const endTimer = setTimeout(() => (behindAtEnd = open ? Math.max(0, dueBy(o.durationMs, o.ratePerSec!) - sent) : 0), o.durationMs);
  if (o.warmupMs === 0) c0 = cpu();
  const stop = ticker(o, `run ${o.workload.name}`, () => completed, () => (open ? `, ${Math.max(0, dueBy(performance.now() - start, o.ratePerSec!) - sent)} behind schedule` : ''));

  const worker = async (w: number): Promise<void> => {
    const rng = createRng(o.seed * 7919 + w);
    for (let k = 0; ; k++) {
      let intended = performance.now();
      if (open) {
        intended = workerIntendedMs(start, w, k, o.concurrency, o.ratePerSec!);
        if (intended >= end) return;
        // A target far behind schedule: stop rather than run on for minutes; what was not sent is reported.
        if (performance.now() > end + Math.max(5000, o.durationMs)) return;
        const wait = delayMs(intended, performance.now());
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else if (intended >= end) return;
      const kind = nextOp(rng);
      const s = performance.now();
      sent++;
      let ok = true;
      try {
        await doOp(kind, rng);
      } catch (e) {
        ok = false;
        errors.set(kind, errors.get(kind)! + 1);
        firstError ??= (e as Error).message;
      }
      const e = performance.now();
      completed++;
      const sec = Math.floor((e - start) / 1000);
      perSecond[sec] = (perSecond[sec] ?? 0) + 1;
      // Closed loop: what completed inside the window. Open loop: every op intended inside the window,
      // however late it finished (dropping the late ones would hide exactly the stall being measured).
      const inWindow = open ? intended >= measureFrom : e >= measureFrom && e <= end;
      if (ok && inWindow) {
        recordUs(hist.get(kind)!, latencyMs(intended, s, e, open) * 1000);
        measured++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  } finally {
    stop();
    clearTimeout(warmTimer);
    clearTimeout(endTimer);
  }
  const unsent = open ? Math.max(0, dueBy(o.durationMs, o.ratePerSec!) - sent) : 0;
  const c1 = cpu();
  // Open loop: the window is the intended one (ops intended in it were all measured, however late).
  const measuredMs = Math.max(1, open ? end - measureFrom : Math.min(performance.now(), end) - measureFrom);
  const latency: Partial<Record<OpKind, OpStats>> = {};
  for (const k of OP_KINDS) {
    const h = hist.get(k)!;
    if (h.totalCount > 0 || errors.get(k)! > 0) latency[k] = { ...summarize(h), errors: errors.get(k)!, notFound: notFound.get(k)! };
  }
  const perOp = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || measured === 0 ? undefined : Math.round(((b - a) * 1000 * 10) / measured) / 10);
  const totalErrors = [...errors.values()].reduce((a, b) => a + b, 0);
  return {
    ops: measured,
    errors: totalErrors,
    elapsedMs: Math.round(measuredMs),
    opsPerSec: Math.round((measured * 1000) / measuredMs),
    latency,
    perSecond: Array.from(perSecond, (v) => v ?? 0),
    serverCpuUsPerOp: perOp(c0?.server, c1.server),
    clientCpuUsPerOp: perOp(c0?.client, c1.client),
    ...(open ? { behindAtEnd, unsent } : {}),
    ...(firstError !== undefined ? { firstError } : {}),
  };
};

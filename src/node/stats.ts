/**
 * A node's counters and latency histograms, reported by STATS and
 * `ringkv stats`. Latencies are recorded in microseconds into HdrHistograms
 * (3 significant digits, up to 60 s), so percentiles up to p99.9 are exact to
 * 0.1% rather than averaged away.
 */
import hdr from 'hdr-histogram-js';

export type OpName = 'get' | 'put' | 'delete' | 'ping' | 'stats' | 'other';

const ops: readonly OpName[] = ['get', 'put', 'delete', 'ping', 'stats', 'other'];

const newHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

type Histogram = ReturnType<typeof newHistogram>;

export interface LatencySummary {
  readonly count: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
}

const summarize = (h: Histogram): LatencySummary => ({
  count: h.totalCount,
  p50Us: h.getValueAtPercentile(50),
  p90Us: h.getValueAtPercentile(90),
  p99Us: h.getValueAtPercentile(99),
  p999Us: h.getValueAtPercentile(99.9),
  maxUs: h.maxValue,
  meanUs: Math.round(h.mean * 10) / 10,
});

export class NodeStats {
  readonly startedAtMs: number;
  private readonly latency = new Map<OpName, Histogram>();
  private readonly counts = new Map<OpName, number>();
  private readonly errors = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();
  private readonly counters = new Map<string, number>();
  /** Ops completed per one-second bucket, newest last, for ops/s. */
  private readonly window: number[] = [];
  private opsThisSecond = 0;

  constructor(nowMs: number) {
    this.startedAtMs = nowMs;
    for (const op of ops) {
      this.latency.set(op, newHistogram());
      this.counts.set(op, 0);
    }
  }

  /** Records one completed operation and its latency. */
  record(op: OpName, latencyUs: number): void {
    this.recordMany(op, latencyUs, 1);
  }

  /** Records `count` operations that completed with the same latency (a batch answered together). */
  recordMany(op: OpName, latencyUs: number, count: number): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + count);
    this.latency.get(op)!.recordValueWithCount(Math.max(1, Math.min(60_000_000, Math.round(latencyUs))), count);
    this.opsThisSecond += count;
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Adds to a named counter (e.g. `readRepairs`, `connectionsRefused`). */
  add(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  counter(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** A value read at report time (e.g. open connections, pending hints). */
  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  /** Called once a second by the shell; keeps the last 10 s. */
  tick(): void {
    this.window.push(this.opsThisSecond);
    this.opsThisSecond = 0;
    if (this.window.length > 10) this.window.shift();
  }

  reset(): void {
    for (const op of ops) {
      this.latency.get(op)!.reset();
      this.counts.set(op, 0);
    }
    this.errors.clear();
    this.counters.clear();
    this.window.length = 0;
    this.opsThisSecond = 0;
  }

  snapshot(nowMs: number): Record<string, unknown> {
    const opsPerSec = this.window.length === 0 ? 0 : this.window.reduce((a, b) => a + b, 0) / this.window.length;
    const latency: Record<string, LatencySummary> = {};
    for (const op of ops) if ((this.counts.get(op) ?? 0) > 0) latency[op] = summarize(this.latency.get(op)!);
    const gauges: Record<string, number> = {};
    for (const [name, read] of this.gauges) gauges[name] = read();
    return {
      uptimeMs: nowMs - this.startedAtMs,
      opsPerSec: Math.round(opsPerSec),
      ops: Object.fromEntries(this.counts),
      latency,
      errors: Object.fromEntries(this.errors),
      counters: Object.fromEntries(this.counters),
      gauges,
    };
  }
}

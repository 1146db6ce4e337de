/**
 * A closed-loop load generator: `inflight` concurrent loops, each awaiting
 * its request before sending the next (the shape `redis-benchmark -c 50 -P 1`
 * has). Latency is recorded per request in microseconds; only requests that
 * complete inside the measured window (after the warm-up) count.
 */
import { performance } from 'node:perf_hooks';
import { newHistogram, recordUs, type Histogram } from './latency.js';

export interface ClosedLoopOptions {
  readonly inflight: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** One request; `loop` is the loop's index (0..inflight-1). */
  readonly op: (loop: number) => Promise<unknown>;
  /** Wall-clock time (Date.now()) at which the warm-up starts, so several processes align; default now. */
  readonly startAtEpochMs?: number;
}

export interface ClosedLoopResult {
  readonly ops: number;
  readonly errors: number;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  readonly histogram: Histogram;
  /** The first error's message, to say why a run failed. */
  readonly firstError: string | undefined;
}

export const closedLoop = async (o: ClosedLoopOptions): Promise<ClosedLoopResult> => {
  const waitMs = o.startAtEpochMs === undefined ? 0 : o.startAtEpochMs - Date.now();
  if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
  const histogram = newHistogram();
  const t0 = performance.now();
  const measureFrom = t0 + o.warmupMs;
  const stopAt = measureFrom + o.durationMs;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stop = false;
  const loop = async (i: number): Promise<void> => {
    while (!stop) {
      const s = performance.now();
      let ok = true;
      try {
        await o.op(i);
      } catch (e) {
        ok = false;
        errors++;
        firstError ??= (e as Error)?.message ?? String(e);
        // A failing target must not turn into a hot spin that measures nothing.
        if (errors > 1000 && ops === 0) stop = true;
      }
      const e = performance.now();
      if (e >= measureFrom) {
        if (e > stopAt) {
          stop = true;
          break;
        }
        if (ok) {
          recordUs(histogram, (e - s) * 1000);
          ops++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: o.inflight }, (_, i) => loop(i)));
  const elapsedMs = Math.min(o.durationMs, Math.max(1, performance.now() - measureFrom));
  return { ops, errors, elapsedMs, opsPerSec: (ops * 1000) / elapsedMs, histogram, firstError };
};

/** Runs `op` for indices 0..count-1 with `inflight` requests outstanding (a preload). */
export const forEachConcurrent = async (count: number, inflight: number, op: (i: number) => Promise<unknown>): Promise<void> => {
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, loop));
};

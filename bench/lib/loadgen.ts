/**
 * A closed-loop load generator: `inflight` concurrent loops, each awaiting
 * its request before sending the next (the shape `redis-benchmark -c 50 -P 1`
 * has). Latency is recorded per request in microseconds; only requests that
 * complete inside the measured window (after the warm-up) count.
 */
import { performance } from 'node:perf_hooks';
import { newHistogram, recordUs, type Histogram } from './latency.js';
import { createRng } from '../ycsb/random.js';

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

/** The two client calls the mixed workload makes (structural: cluster_inproc.ts loads the client of other trees). */
export interface MixClient {
  put(key: Uint8Array, value: Uint8Array, options: { readonly context?: Uint8Array }): Promise<{ readonly context: Uint8Array }>;
  getRaw(key: Uint8Array): Promise<{ readonly context: Uint8Array }>;
}

export interface GetPutMixOptions {
  readonly keys: number;
  readonly keyOf: (i: number) => Uint8Array;
  readonly valueBytes: number;
  /** The share of operations that are gets; the rest are puts. */
  readonly getFraction: number;
  readonly inflight: number;
  /** Loop i draws its keys and operations from createRng(seed + i). */
  readonly seed: number;
  /**
   * The latest context seen per key: a put carries it, so it supersedes what
   * was there instead of adding a sibling (blind puts would grow every key's
   * sibling list without bound over a run). Pass one array to several mixes
   * on the same cluster so a second preload does not add a sibling either.
   */
  readonly contexts?: (Uint8Array | undefined)[];
}

/**
 * The benches' get/put mix over `keys` keys: `preload` puts every key once,
 * `op(loop)` (for closedLoop) does one get or put of a random key through
 * clients[loop % clients.length].
 */
export const getPutMix = (
  clients: readonly MixClient[],
  o: GetPutMixOptions,
): { readonly preload: () => Promise<void>; readonly op: (loop: number) => Promise<void> } => {
  const value = Buffer.alloc(o.valueBytes, 0x61);
  const contexts = o.contexts ?? new Array<Uint8Array | undefined>(o.keys);
  const put = (client: MixClient, i: number): Promise<void> => {
    const context = contexts[i];
    return client.put(o.keyOf(i), value, context !== undefined ? { context } : {}).then((r) => {
      contexts[i] = r.context;
    });
  };
  const rngs = Array.from({ length: o.inflight }, (_, i) => createRng(o.seed + i));
  return {
    preload: () => forEachConcurrent(o.keys, o.inflight, (i) => put(clients[i % clients.length]!, i)),
    op: (loop) => {
      const rng = rngs[loop]!;
      const client = clients[loop % clients.length]!;
      const i = Math.floor(rng.next() * o.keys);
      if (rng.next() >= o.getFraction) return put(client, i);
      return client.getRaw(o.keyOf(i)).then((g) => {
        contexts[i] = g.context;
      });
    },
  };
};

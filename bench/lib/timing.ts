/**
 * Timing helpers for the benches. Numbers from one run are only comparable
 * with each other (a 2-core machine shared with others is noisy), so every
 * bench measures its baseline in the same run and reports ratios.
 */

/** Monotonic nanoseconds, as a number (safe for runs shorter than ~100 days). */
export const nowNs = (): number => Number(process.hrtime.bigint());

export interface Sample {
  /** Operations timed. */
  readonly ops: number;
  /** Wall time of those operations. */
  readonly elapsedNs: number;
}

export const nsPerOp = (s: Sample): number => s.elapsedNs / s.ops;
export const opsPerSec = (s: Sample): number => (s.ops * 1e9) / s.elapsedNs;

/** Times `ops` synchronous calls of `body(i)`. */
export const timeSync = (ops: number, body: (i: number) => void): Sample => {
  const started = nowNs();
  for (let i = 0; i < ops; i++) body(i);
  return { ops, elapsedNs: nowNs() - started };
};

/** The median of `xs` (the mean of the two middle ones for an even count); NaN for none. */
export const median = (xs: readonly number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/**
 * Runs `warmup` untimed rounds (JIT, caches), then `rounds` timed ones, and
 * keeps the median round: one slow round from a neighbour's burst should not
 * decide the figure.
 */
export const medianOf = (rounds: number, warmup: number, round: () => Sample): Sample => {
  for (let i = 0; i < warmup; i++) round();
  const samples: Sample[] = [];
  for (let i = 0; i < rounds; i++) samples.push(round());
  samples.sort((a, b) => nsPerOp(a) - nsPerOp(b));
  return samples[Math.floor(samples.length / 2)] as Sample;
};

/** Async version: times `body` until it has done `maxOps` or `maxMs` passed. */
export const timeAsyncBounded = async (
  maxOps: number,
  maxMs: number,
  body: (i: number) => Promise<void>,
): Promise<Sample> => {
  const started = nowNs();
  const deadline = started + maxMs * 1e6;
  let ops = 0;
  while (ops < maxOps) {
    await body(ops);
    ops++;
    if ((ops & 63) === 0 && nowNs() > deadline) break;
  }
  return { ops, elapsedNs: nowNs() - started };
};

/**
 * `inFlight` concurrent writers, each awaiting one op at a time, until
 * `maxOps` ops were started or `maxMs` passed; measures completed ops.
 */
export const timeConcurrent = async (
  inFlight: number,
  maxOps: number,
  maxMs: number,
  body: (i: number) => Promise<void>,
): Promise<Sample> => {
  const started = nowNs();
  const deadline = started + maxMs * 1e6;
  let next = 0;
  let done = 0;
  const writer = async (): Promise<void> => {
    while (next < maxOps && nowNs() < deadline) {
      await body(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  return { ops: done, elapsedNs: nowNs() - started };
};

/** Formats a rate: 1234567 → "1.23M". */
export const fmtRate = (perSec: number): string => {
  if (!Number.isFinite(perSec)) return '-';
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)}M`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)}k`;
  return perSec.toFixed(0);
};

/**
 * Open-loop (fixed-rate) scheduling without coordinated omission.
 *
 * A closed loop sends the next request only when the last one answered, so
 * when the system stalls the load generator politely stops asking and the
 * stall shows up as one slow request instead of the thousands that real
 * clients would have sent meanwhile (Gil Tene's "coordinated omission").
 * Here every operation has an intended send time fixed in advance by the
 * target rate; a worker that falls behind sends at once, and latency is
 * measured from the intended time, so waiting in the generator's queue
 * counts as the latency a user would have seen.
 *
 * Operations are numbered globally: op i is intended at start + i/rate. With
 * W workers, worker w sends ops w, w+W, w+2W, ..., so the aggregate stream is
 * evenly spaced at the target rate.
 */

/** When (ms, same clock as `startMs`) global op `i` should be sent at `ratePerSec`. */
export const intendedTimeMs = (startMs: number, i: number, ratePerSec: number): number => startMs + (i * 1000) / ratePerSec;

/** The global index of worker `w`'s `k`-th operation among `workers`. */
export const globalIndex = (w: number, k: number, workers: number): number => k * workers + w;

/** When worker `w` should send its `k`-th operation. */
export const workerIntendedMs = (startMs: number, w: number, k: number, workers: number, ratePerSec: number): number =>
  intendedTimeMs(startMs, globalIndex(w, k, workers), ratePerSec);

/**
 * Latency as the user sees it: from the intended send time (open loop) or
 * the actual send time (closed loop, where both are the same) to completion.
 */
export const latencyMs = (intendedMs: number, sentMs: number, doneMs: number, openLoop: boolean): number =>
  doneMs - (openLoop ? intendedMs : sentMs);

/** How long to wait before sending (0 when already late). */
export const delayMs = (intendedMs: number, nowMs: number): number => Math.max(0, intendedMs - nowMs);

/** Ops due by `elapsedMs` at `ratePerSec` (how far behind a run is: due − done). */
export const dueBy = (elapsedMs: number, ratePerSec: number): number => Math.floor((elapsedMs * ratePerSec) / 1000);

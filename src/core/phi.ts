/**
 * The phi accrual failure detector (Hayashibara et al., 2004), in the form
 * Akka and Cassandra use: instead of a yes/no timeout, a suspicion level
 * phi = -log10(P(a heartbeat arrives later than now)), where the inter-arrival
 * times are modelled from a bounded window of recent ones. phi = 1 means a 10%
 * chance that the peer is merely late, phi = 8 one in 10^8.
 *
 * Distribution. Normal by default, with the logistic approximation of its CDF
 * (Bowling et al., 2009) that Akka uses: P(later) ≈ 1 / (1 + e^z),
 * z = y·(1.5976 + 0.070566·y²), y = (elapsed − mean) / stdDev. It reacts to
 * jitter: a peer with irregular heartbeats gets a wider curve, so it takes
 * longer to be suspected. Cassandra's exponential model
 * (phi = elapsed / (mean·ln 10)) ignores the variance; it is available as
 * `distribution: 'exponential'` for comparison.
 *
 * Parameters (as Akka names them): the window size; a minimum standard
 * deviation, so a very regular peer is not convicted by a few ms of delay; an
 * acceptable pause added to the mean, for known stalls (GC, a busy event
 * loop); and a first-heartbeat estimate, which seeds the window with two
 * synthetic intervals estimate ± estimate/4 so phi is meaningful from the
 * first heartbeat on.
 *
 * Cost. `phi` is O(1) and allocates nothing: the window keeps a running sum
 * and sum of squares (recomputed exactly each time the ring wraps, so
 * floating-point drift cannot build up). `heartbeat` returns a new state and
 * copies the window (8 bytes a sample), which at one heartbeat a second per
 * peer is negligible, and keeps every state a value.
 *
 * Laws (tested in test/core/phi.test.ts):
 *   t1 ≤ t2 (no heartbeat between) ⇒ phi(s, t1) ≤ phi(s, t2)        (monotone in time)
 *   phi(s, suspectAtMs(s, θ)) = θ (to rounding)                     (inverse)
 *   mean and variance of the window = those recomputed from its samples
 */
import type { Millis } from './types.js';

// ---------------------------------------------------------------------------
// model

export type Distribution = 'normal' | 'exponential';

export interface PhiConfig {
  /** Suspect the peer at or above this phi. */
  readonly threshold: number;
  /** Number of inter-arrival times kept. */
  readonly maxSamples: number;
  readonly minStdDeviationMs: Millis;
  readonly acceptableHeartbeatPauseMs: Millis;
  readonly firstHeartbeatEstimateMs: Millis;
  readonly distribution: Distribution;
}

/** Gossip runs once a second; these follow Akka's and Cassandra's defaults for that rate. */
export const defaultConfig: PhiConfig = {
  threshold: 8,
  maxSamples: 1000,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 0,
  firstHeartbeatEstimateMs: 1000,
  distribution: 'normal',
};

export interface PhiState {
  readonly config: PhiConfig;
  /** Ring buffer of inter-arrival times; only the first `count` slots (mod wrap) are meaningful. */
  readonly intervals: Float64Array;
  readonly count: number;
  /** Slot the next interval goes to. */
  readonly next: number;
  readonly sum: number;
  readonly sumSquares: number;
  /** When the last heartbeat arrived; undefined before the first. */
  readonly lastHeartbeatMs: Millis | undefined;
}

// ---------------------------------------------------------------------------
// constructors

/** A reason the configuration is unusable, or null. */
export const invalidConfig = (c: PhiConfig): string | null => {
  if (!(c.threshold > 0) || !Number.isFinite(c.threshold)) return 'threshold must be a positive number';
  if (!Number.isInteger(c.maxSamples) || c.maxSamples < 2) return 'maxSamples must be an integer ≥ 2';
  if (!(c.minStdDeviationMs > 0) || !Number.isFinite(c.minStdDeviationMs)) return 'minStdDeviationMs must be positive';
  if (!(c.acceptableHeartbeatPauseMs >= 0) || !Number.isFinite(c.acceptableHeartbeatPauseMs)) {
    return 'acceptableHeartbeatPauseMs must be ≥ 0';
  }
  if (!(c.firstHeartbeatEstimateMs > 0) || !Number.isFinite(c.firstHeartbeatEstimateMs)) {
    return 'firstHeartbeatEstimateMs must be positive';
  }
  if (c.distribution !== 'normal' && c.distribution !== 'exponential') return 'distribution must be normal or exponential';
  return null;
};

/** A detector that has heard nothing yet. Throws on a bad configuration: configuration is validated at the edge. */
export const init = (config: Partial<PhiConfig> = {}): PhiState => {
  const c: PhiConfig = { ...defaultConfig, ...config };
  const bad = invalidConfig(c);
  if (bad !== null) throw new RangeError(`phi: ${bad}`);
  return {
    config: c,
    intervals: new Float64Array(c.maxSamples),
    count: 0,
    next: 0,
    sum: 0,
    sumSquares: 0,
    lastHeartbeatMs: undefined,
  };
};

// ---------------------------------------------------------------------------
// combinators

/** Appends intervals to a copy of the window (evicting the oldest when full). */
const record = (s: PhiState, lastHeartbeatMs: Millis, samples: readonly number[]): PhiState => {
  const intervals = s.intervals.slice();
  const cap = intervals.length;
  let { count, next, sum, sumSquares } = s;
  for (const x of samples) {
    if (count === cap) {
      const old = intervals[next]!;
      sum -= old;
      sumSquares -= old * old;
    } else {
      count++;
    }
    intervals[next] = x;
    sum += x;
    sumSquares += x * x;
    next = (next + 1) % cap;
    if (next === 0) {
      // Once per lap, replace the running sums by exact ones: amortized O(1).
      sum = 0;
      sumSquares = 0;
      for (let i = 0; i < count; i++) {
        const v = intervals[i]!;
        sum += v;
        sumSquares += v * v;
      }
    }
  }
  return { config: s.config, intervals, count, next, sum, sumSquares, lastHeartbeatMs };
};

/**
 * A heartbeat arrived at `nowMs`. The first one seeds the window with the
 * first-heartbeat estimate; a heartbeat that is not later than the previous
 * one (a clock step back, a duplicate) only moves `lastHeartbeatMs`.
 */
export const heartbeat = (s: PhiState, nowMs: Millis): PhiState => {
  const last = s.lastHeartbeatMs;
  if (last === undefined) {
    const e = s.config.firstHeartbeatEstimateMs;
    return record(s, nowMs, [e - e / 4, e + e / 4]);
  }
  const interval = nowMs - last;
  if (!(interval > 0)) return { ...s, lastHeartbeatMs: nowMs };
  return record(s, nowMs, [interval]);
};

/** Mean of the window (0 when empty). */
export const mean = (s: PhiState): number => (s.count === 0 ? 0 : s.sum / s.count);

/** Population variance of the window (0 when empty). */
export const variance = (s: PhiState): number => {
  if (s.count === 0) return 0;
  const m = s.sum / s.count;
  return Math.max(0, s.sumSquares / s.count - m * m);
};

const stdDeviation = (s: PhiState): number => Math.max(Math.sqrt(variance(s)), s.config.minStdDeviationMs);

const a = 1.5976;
const b = 0.070566;

/** phi for `elapsedMs` since the last heartbeat. */
const phiOf = (s: PhiState, elapsedMs: number): number => {
  const m = mean(s) + s.config.acceptableHeartbeatPauseMs;
  if (s.config.distribution === 'exponential') return Math.max(0, elapsedMs) / (m * Math.LN10);
  const y = (elapsedMs - m) / stdDeviation(s);
  const z = y * (a + b * y * y);
  // log10(1 + e^z), computed without overflow for large z.
  return z > 0 ? (z + Math.log1p(Math.exp(-z))) / Math.LN10 : Math.log1p(Math.exp(z)) / Math.LN10;
};

/** The suspicion level at `nowMs`; 0 before the first heartbeat (nothing to suspect yet). */
export const phi = (s: PhiState, nowMs: Millis): number =>
  s.lastHeartbeatMs === undefined ? 0 : phiOf(s, nowMs - s.lastHeartbeatMs);

export const isAvailable = (s: PhiState, nowMs: Millis, threshold: number = s.config.threshold): boolean =>
  phi(s, nowMs) < threshold;

/**
 * When phi reaches `threshold` if no heartbeat arrives: the time to set a
 * timer for. Undefined before the first heartbeat.
 */
export const suspectAtMs = (s: PhiState, threshold: number = s.config.threshold): Millis | undefined => {
  if (s.lastHeartbeatMs === undefined) return undefined;
  const m = mean(s) + s.config.acceptableHeartbeatPauseMs;
  if (s.config.distribution === 'exponential') return s.lastHeartbeatMs + threshold * Math.LN10 * m;
  // Invert log10(1 + e^z) = θ, then solve b·y³ + a·y − z = 0 (one real root since a, b > 0; Cardano).
  const z = threshold > 300 ? threshold * Math.LN10 : Math.log(Math.expm1(threshold * Math.LN10));
  const p = a / b;
  const q = z / b;
  const r = Math.sqrt((q * q) / 4 + (p * p * p) / 27);
  const y = Math.cbrt(q / 2 + r) + Math.cbrt(q / 2 - r);
  return s.lastHeartbeatMs + m + y * stdDeviation(s);
};

// ---------------------------------------------------------------------------
// suspicion: the detector combined with the node's own request failures

export interface SuspicionConfig {
  /** Consecutive failed requests to a peer that mark it down. */
  readonly maxConsecutiveFailures: number;
  readonly threshold: number;
}

export const defaultSuspicionConfig: SuspicionConfig = { maxConsecutiveFailures: 3, threshold: 8 };

export interface Suspicion {
  readonly down: boolean;
  /** Why the peer is down (null while up). */
  readonly reason: 'failures' | 'phi' | null;
  readonly consecutiveFailures: number;
}

export type SuspicionEvent =
  | { readonly type: 'requestFailed' }
  | { readonly type: 'requestSucceeded' }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'phi'; readonly phi: number };

export const healthy: Suspicion = { down: false, reason: null, consecutiveFailures: 0 };

/**
 * The peer goes down after K consecutive request failures or when phi
 * reaches the threshold, and comes back up only on a fresh heartbeat: a
 * request success resets the failure count but is not taken as proof of
 * recovery, because the peer's gossip is what other decisions (handoff,
 * membership) wait on. Unchanged states come back by reference.
 */
export const suspicion =
  (config: SuspicionConfig = defaultSuspicionConfig) =>
  (s: Suspicion, event: SuspicionEvent): Suspicion => {
    switch (event.type) {
      case 'requestFailed': {
        const consecutiveFailures = s.consecutiveFailures + 1;
        if (!s.down && consecutiveFailures >= config.maxConsecutiveFailures) {
          return { down: true, reason: 'failures', consecutiveFailures };
        }
        return { ...s, consecutiveFailures };
      }
      case 'requestSucceeded':
        return s.consecutiveFailures === 0 ? s : { ...s, consecutiveFailures: 0 };
      case 'heartbeat':
        return s.down || s.consecutiveFailures !== 0 ? healthy : s;
      case 'phi':
        return !s.down && event.phi >= config.threshold ? { ...s, down: true, reason: 'phi' } : s;
    }
  };

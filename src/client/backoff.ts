/**
 * Reconnection delays: exponential backoff with "full jitter" (each delay is
 * uniform in [0, min(cap, base·2^attempt)]), which spreads a crowd of clients
 * that lost the same node instead of having them reconnect in lock-step.
 *
 * A policy is a generator factory, so a connection asks for the next delay
 * and starts over with a fresh generator after a successful connect.
 */
export interface BackoffOptions {
  /** First delay's upper bound. Default 50 ms. */
  readonly baseMs?: number;
  /** Largest delay. Default 5000 ms. */
  readonly maxMs?: number;
  /** Give up after this many attempts (Infinity: never). Default Infinity. */
  readonly maxAttempts?: number;
  /** Source of randomness in [0, 1); default Math.random. */
  readonly random?: () => number;
}

export type BackoffPolicy = () => Iterator<number, void>;

export const exponentialBackoff = (options: BackoffOptions = {}): BackoffPolicy => {
  const baseMs = options.baseMs ?? 50;
  const maxMs = options.maxMs ?? 5000;
  const maxAttempts = options.maxAttempts ?? Infinity;
  const random = options.random ?? Math.random;
  if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError('backoff needs 0 < baseMs <= maxMs');
  return function* () {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
      yield Math.floor(random() * ceiling);
    }
  };
};

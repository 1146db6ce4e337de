/**
 * The production Clock: wall time and Node timers behind the Clock interface
 * (src/cluster/effects.ts), so cluster code never touches Date.now or
 * setTimeout itself and the simulation can swap in a virtual clock.
 */
import type { Clock, Timer } from './effects.js';
import type { Random } from '../core/types.js';

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms: number, fn: () => void): Timer {
    const handle = setTimeout(fn, Math.max(0, ms));
    // A pending cluster timer alone must not keep a stopping process alive;
    // the server socket is what keeps a node running.
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Production randomness (gossip peer choice, jitter); simulation seeds its own. */
export const mathRandom: Random = { next: () => Math.random() };

/**
 * Serializes read-modify-write sequences per key. A replica's put reads the
 * stored clock, merges and writes back; two puts to one key interleaving
 * across an `await` would lose one of them. Work for different keys runs
 * concurrently; work for one key runs in arrival order.
 *
 * Keys are compared by their bytes (latin1 string form: one char per byte,
 * cheap and exact).
 */
export class KeyLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Number of keys with work queued or running (for stats and tests). */
  get size(): number {
    return this.tails.size;
  }

  /** Runs `work` after every earlier work of `key` has settled; `work` starts a microtask later at the earliest. */
  run<T>(key: Uint8Array | string, work: () => Promise<T> | T): Promise<T> {
    const k = keyString(key);
    const prev = this.tails.get(k);
    const next = (prev === undefined ? Promise.resolve().then(work) : prev.then(work, work)) as Promise<T>;
    this.hold(k, next);
    return next;
  }

  /**
   * As `run`, but when `key` has no work queued or running, `work` starts
   * now, inside this call (a synchronous step of it, e.g. a read from a
   * synchronous backend, happens before `runEager` returns). Saves the
   * microtask hop of `run` on the common, uncontended path; work for a busy
   * key still queues behind it in arrival order.
   */
  runEager<T>(key: Uint8Array | string, work: () => Promise<T> | T): Promise<T> {
    const k = keyString(key);
    const prev = this.tails.get(k);
    if (prev !== undefined) {
      const queued = prev.then(work, work) as Promise<T>;
      this.hold(k, queued);
      return queued;
    }
    let next: Promise<T>;
    try {
      const r = work();
      next = r instanceof Promise ? r : Promise.resolve(r);
    } catch (e) {
      next = Promise.reject(e);
    }
    this.hold(k, next);
    return next;
  }

  /** Makes `next` the key's tail until it settles. */
  private hold(k: string, next: Promise<unknown>): void {
    // The tail never rejects, so a failed step does not poison the queue;
    // settling it also releases the key unless newer work took the tail.
    const release = (): void => {
      if (this.tails.get(k) === tail) this.tails.delete(k);
    };
    const tail: Promise<void> = next.then(release, release);
    this.tails.set(k, tail);
  }
}

const keyString = (key: Uint8Array | string): string =>
  typeof key === 'string' ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

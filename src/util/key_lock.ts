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

  run<T>(key: Uint8Array | string, work: () => Promise<T> | T): Promise<T> {
    const k = typeof key === 'string' ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
    const prev = this.tails.get(k);
    const next = (prev === undefined ? Promise.resolve().then(work) : prev.then(work, work)) as Promise<T>;
    // The tail never rejects, so a failed step does not poison the queue.
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(k, tail);
    void tail.then(() => {
      if (this.tails.get(k) === tail) this.tails.delete(k);
    });
    return next;
  }
}

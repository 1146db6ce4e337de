/**
 * Per-key state of a load generator kept off the JS heap: one buffer of
 * fixed-width slots instead of a Buffer object per key. With 100k keys the
 * bench's own process held 200k long-lived Buffers (keys and contexts);
 * every major GC marked them and the load generator, not the server, set
 * the pace: bench:server GET 148k ops/s, p99.9 8.6 ms, loadgen 7.0 µs/op with
 * 100k keys against 199k, 1.3 ms and 4.3 µs/op with 10k (same server CPU per
 * op). A view handed out by `at` is made per request and dies young.
 */
export class Slots {
  private readonly bytes: Buffer;
  private readonly lengths: Uint16Array;
  /** Values longer than a slot (rare): kept as objects. */
  private readonly oversized = new Map<number, Buffer>();

  constructor(
    readonly count: number,
    readonly width: number,
  ) {
    this.bytes = Buffer.alloc(count * width);
    this.lengths = new Uint16Array(count);
  }

  /** Slot i's bytes (a fresh view, or the oversized copy); undefined if never set. */
  at(i: number): Buffer | undefined {
    const n = this.lengths[i]!;
    if (n === 0) return undefined;
    if (n > this.width) return this.oversized.get(i);
    const start = i * this.width;
    return this.bytes.subarray(start, start + n);
  }

  set(i: number, value: Uint8Array): void {
    if (value.length === 0) throw new Error('Slots holds non-empty values only');
    if (value.length > 0xffff) throw new Error(`slot value of ${value.length} bytes`);
    this.lengths[i] = value.length;
    if (value.length > this.width) this.oversized.set(i, Buffer.from(value));
    else {
      this.oversized.delete(i);
      this.bytes.set(value, i * this.width);
    }
  }
}

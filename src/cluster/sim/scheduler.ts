/**
 * The simulated world's one source of time: a queue of events ordered by
 * (time, sequence number). Time only moves when the runner takes the next
 * event, so a run depends on the seed alone, never on how fast the machine
 * is. Timers of every node's SimClock and every message delivery of the
 * SimNetwork are events here.
 */
import type { Clock, Timer } from '../effects.js';

export interface SimEvent {
  /** When it runs; changed only by `Scheduler.defer`. */
  atMs: number;
  seq: number;
  /** What the trace records when the event runs. */
  readonly label: string;
  readonly run: () => void;
  /** The node whose process runs it (its timers, messages arriving at it); a paused node's events wait. */
  readonly owner: string | undefined;
  cancelled: boolean;
}

export class Scheduler {
  private heap: SimEvent[] = [];
  private seq = 0;
  private nowMs = 0;

  now(): number {
    return this.nowMs;
  }

  /** Number of events queued, cancelled ones included. */
  get size(): number {
    return this.heap.length;
  }

  /** Queues `run` at now + delayMs (delayMs ≥ 0). */
  at(delayMs: number, label: string, run: () => void, owner?: string): SimEvent {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) throw new RangeError(`delay must be a finite number ≥ 0, got ${delayMs}`);
    const event: SimEvent = { atMs: this.nowMs + delayMs, seq: this.seq++, label, run, owner, cancelled: false };
    this.push(event);
    return event;
  }

  /**
   * Puts a popped event back, to run at `atMs` (≥ now) after everything
   * already queued for that time. The same object is queued, so a timer
   * cancelled meanwhile stays cancelled.
   */
  defer(event: SimEvent, atMs: number): void {
    if (!(atMs >= this.nowMs)) throw new RangeError(`cannot defer to ${atMs}, before now ${this.nowMs}`);
    event.atMs = atMs;
    event.seq = this.seq++;
    this.push(event);
  }

  /** Time of the next live event, or undefined when none is queued. */
  peekTime(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.atMs;
  }

  /** Removes and returns the next live event and moves the clock to its time. */
  pop(): SimEvent | undefined {
    this.dropCancelled();
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    this.nowMs = top.atMs;
    return top;
  }

  /** Moves the clock forward to `timeMs` when no event lies before it. */
  advanceTo(timeMs: number): void {
    const next = this.peekTime();
    if (next !== undefined && next < timeMs) throw new Error(`advanceTo(${timeMs}) would skip an event at ${next}`);
    if (timeMs > this.nowMs) this.nowMs = timeMs;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) {
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.down(0);
      }
    }
  }

  private static before(x: SimEvent, y: SimEvent): boolean {
    return x.atMs < y.atMs || (x.atMs === y.atMs && x.seq < y.seq);
  }

  private push(e: SimEvent): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!Scheduler.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && Scheduler.before(h[l]!, h[m]!)) m = l;
      if (r < h.length && Scheduler.before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/**
 * One node's Clock over the shared scheduler. `halt()` models the node's
 * process dying: its pending timers never fire and new ones are never
 * queued, so the dead node's code cannot run again.
 */
export class SimClock implements Clock {
  private readonly live = new Set<SimEvent>();
  private halted = false;

  constructor(
    private readonly scheduler: Scheduler,
    /** Names the owner in trace labels. */
    readonly owner: string,
  ) {}

  now(): number {
    return this.scheduler.now();
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (this.halted) return { cancel: () => undefined };
    const event = this.scheduler.at(
      Math.max(0, ms),
      `${this.owner} timer`,
      () => {
        this.live.delete(event);
        fn();
      },
      this.owner,
    );
    this.live.add(event);
    return {
      cancel: () => {
        event.cancelled = true;
        this.live.delete(event);
      },
    };
  }

  /** Timers queued and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.live.size;
  }

  halt(): void {
    this.halted = true;
    for (const e of this.live) e.cancelled = true;
    this.live.clear();
  }
}

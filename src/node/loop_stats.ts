/**
 * The event loop's health, as `ringkv stats` reports it: how late timers ran
 * (delay percentiles, Node's monitorEventLoopDelay) and the share of time the
 * loop was busy (event loop utilization), over the last completed window.
 * A node is one JavaScript thread: a delay of many milliseconds is latency
 * every request saw, and utilization near 1 means the node is CPU-bound.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopWindow {
  readonly delayP50Ms: number;
  readonly delayP99Ms: number;
  readonly delayMaxMs: number;
  /** 0..1: the share of the window the loop spent running code. */
  readonly utilization: number;
}

const EMPTY: LoopWindow = { delayP50Ms: 0, delayP99Ms: 0, delayMaxMs: 0, utilization: 0 };

/** The monitor's sampling timer (ms); what it records is this period plus the delay, so it is taken off. */
const RESOLUTION_MS = 10;

export class LoopStats {
  private readonly histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private last: LoopWindow = EMPTY;

  constructor() {
    this.histogram.enable();
  }

  /** Closes the current window (the caller's period, e.g. every 10 s) and starts the next. */
  roll(): void {
    const h = this.histogram;
    const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e4 - RESOLUTION_MS * 100) / 100);
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, this.elu);
    this.elu = now;
    this.last =
      h.count === 0
        ? { ...EMPTY, utilization: delta.utilization }
        : { delayP50Ms: ms(h.percentile(50)), delayP99Ms: ms(h.percentile(99)), delayMaxMs: ms(h.max), utilization: Math.round(delta.utilization * 1000) / 1000 };
    h.reset();
  }

  /** The last completed window (zeros before the first). */
  window(): LoopWindow {
    return this.last;
  }

  stop(): void {
    this.histogram.disable();
  }
}

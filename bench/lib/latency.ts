/**
 * Latency recording for benchmarks: HdrHistograms in microseconds (3
 * significant digits, 1 µs .. 60 s, like the node's own stats), summaries
 * with the percentiles the issues ask for, and a compact encoding so a
 * load-generator child process can hand its histogram to the parent, where
 * histograms are added (percentiles of merged runs cannot be averaged).
 */
import hdr from 'hdr-histogram-js';

export const newHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

export type Histogram = ReturnType<typeof newHistogram>;

const MAX_US = 60_000_000;

/** Records a latency given in microseconds (clamped to the histogram's range). */
export const recordUs = (h: Histogram, us: number): void => {
  h.recordValue(us < 1 ? 1 : us > MAX_US ? MAX_US : Math.round(us));
};

export interface LatencySummary {
  readonly count: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
}

export const summarize = (h: Histogram): LatencySummary => ({
  count: h.totalCount,
  p50Us: h.totalCount === 0 ? 0 : h.getValueAtPercentile(50),
  p90Us: h.totalCount === 0 ? 0 : h.getValueAtPercentile(90),
  p99Us: h.totalCount === 0 ? 0 : h.getValueAtPercentile(99),
  p999Us: h.totalCount === 0 ? 0 : h.getValueAtPercentile(99.9),
  maxUs: h.totalCount === 0 ? 0 : h.maxValue,
  meanUs: h.totalCount === 0 ? 0 : Math.round(h.mean * 10) / 10,
});

export const encodeHistogram = (h: Histogram): string => hdr.encodeIntoCompressedBase64(h);

/** Adds an encoded histogram (from a child process) into `into`. */
export const addEncoded = (into: Histogram, encoded: string): void => {
  into.add(hdr.decodeFromCompressedBase64(encoded));
};

/** `1234` → `1.23 ms`, `87` → `87 µs`: latencies read at a glance in tables. */
export const fmtUs = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);

/** `123456.7` → `123.5k`. */
export const fmtRate = (perSec: number): string => (perSec >= 1000 ? `${(perSec / 1000).toFixed(1)}k` : perSec.toFixed(0));

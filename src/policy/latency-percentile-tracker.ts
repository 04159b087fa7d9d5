/**
 * The latencies a route has shown lately, and one percentile of them: how long a hedged request
 * waits before its backup goes (Finagle's BackupRequestFilter keeps the same thing, a windowed
 * histogram of latencies). Observations land in a rolling window of 10 slices on the injected clock
 * (./rolling-window.ts) of log-linear histograms about 6% wide (./latency-histogram.ts).
 *
 * Reading the percentile sums every slice, a few thousand additions, so it is recomputed once per
 * slice (a tenth of the window) and requests in between read the cached figure; sooner only when
 * the observations have doubled since the last count, so that the first figure, taken over a
 * route's first few requests (new connections among them), is not kept for a whole slice. Until
 * the window holds `minSamples` observations there is no figure at all: a percentile of three
 * requests is noise, and hedging on it would double the load of a route just starting.
 */
import type { Clock } from '../core/clock.js';
import { LatencyHistogram } from './latency-histogram.js';
import { RollingWindow, type Slice } from './rolling-window.js';

export interface LatencyPercentileOptions {
  /** The percentile reported, above 0 and below 100 (95: the latency 95% of requests beat). */
  percentile: number;
  /** How far back observations count, ms. */
  windowMs: number;
  /** Observations in the window before a figure is reported. */
  minSamples: number;
}

const SLICES = 10;

const histogramSlice: Slice<LatencyHistogram> = {
  make: () => new LatencyHistogram(),
  reset: (slice) => slice.clear(),
  merge: (into, from) => into.add(from),
};

export class LatencyPercentileTracker {
  readonly #clock: Clock;
  readonly #quantile: number;
  readonly #minSamples: number;
  readonly #refreshMs: number;
  readonly #window: RollingWindow<LatencyHistogram>;
  readonly #sum = new LatencyHistogram();
  #cached: number | undefined = undefined;
  #refreshAt = -Infinity;
  /** Observations in the window at the last computation plus those since: never fewer than are there now. */
  #atMost = 0;
  /** Observations in the window at the last computation. */
  #counted = 0;

  constructor(options: LatencyPercentileOptions, clock: Clock) {
    const { percentile, windowMs, minSamples } = options;
    if (!(percentile > 0 && percentile < 100)) throw new RangeError(`percentile must be above 0 and below 100, got ${percentile}`);
    if (!(windowMs >= SLICES) || !Number.isFinite(windowMs)) throw new RangeError(`windowMs must be at least ${SLICES} ms, got ${windowMs}`);
    if (!Number.isInteger(minSamples) || minSamples < 1) throw new RangeError(`minSamples must be a whole number >= 1, got ${minSamples}`);
    this.#clock = clock;
    this.#quantile = percentile / 100;
    this.#minSamples = minSamples;
    this.#refreshMs = windowMs / SLICES;
    this.#window = new RollingWindow(windowMs, histogramSlice, clock, clock.now(), SLICES);
  }

  record(latencyMs: number): void {
    this.#window.current().record(latencyMs);
    this.#atMost++;
  }

  /** The percentile of the window's latencies, ms; undefined while it holds fewer than `minSamples`. */
  current(): number | undefined {
    const now = this.#clock.now();
    if (now < this.#refreshAt && this.#atMost < 2 * this.#counted) return this.#cached;
    // Not enough observations can have arrived since the last count: no need to count again.
    if (this.#cached === undefined && this.#atMost < this.#minSamples) return undefined;
    const sum = this.#sum;
    sum.clear();
    this.#window.sum(sum);
    this.#atMost = this.#counted = sum.total;
    this.#cached = sum.total >= this.#minSamples ? sum.quantile(this.#quantile) : undefined;
    this.#refreshAt = this.#cached === undefined ? -Infinity : now + this.#refreshMs;
    return this.#cached;
  }
}

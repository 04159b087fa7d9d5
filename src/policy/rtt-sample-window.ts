/**
 * Turns finished requests into the samples an adaptive limit learns from: one per window of
 * `windowMs` holding at least `minSamples` requests, with the window's average RTT and the most
 * requests that were in flight at once (Netflix concurrency-limits' WindowedLimit; Envoy's adaptive
 * concurrency filter recomputes its limit on an interval the same way).
 *
 * Why not one sample per request: Gradient2's long-term RTT is an average over `longWindow`
 * samples. Fed per request, 600 samples are a fraction of a second at a few hundred requests per
 * second, so during an overload the baseline climbs with the queue within seconds, the gradient
 * returns to 1 and the limit grows back into the overload. Per 100 ms window the same 600 samples
 * span a minute: an overload lasts shorter than the baseline's memory, which is what lets the limit
 * hold it off. Averaging a window also keeps one slow request from moving the limit.
 */
import type { Clock } from '../core/clock.js';

export interface WindowSample {
  /** The average RTT of the window's requests. */
  rtt: number;
  /** The most requests in flight at once while the window's requests ran. */
  inFlight: number;
}

export class RttSampleWindow {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #minSamples: number;
  #endsAt: number;
  #count = 0;
  #rttSum = 0;
  #maxInFlight = 0;

  constructor(windowMs: number, minSamples: number, clock: Clock) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`sampleWindowMs must be a number of ms above 0, got ${windowMs}`);
    if (!Number.isInteger(minSamples) || minSamples < 1) throw new RangeError(`minWindowSamples must be a whole number >= 1, got ${minSamples}`);
    this.#clock = clock;
    this.#windowMs = windowMs;
    this.#minSamples = minSamples;
    this.#endsAt = clock.now() + windowMs;
  }

  /** One finished request; returns the window's sample when this request closes the window. */
  add(rtt: number, inFlight: number): WindowSample | undefined {
    this.#count++;
    this.#rttSum += rtt;
    if (inFlight > this.#maxInFlight) this.#maxInFlight = inFlight;
    const now = this.#clock.now();
    if (now < this.#endsAt || this.#count < this.#minSamples) return undefined;
    const sample = { rtt: this.#rttSum / this.#count, inFlight: this.#maxInFlight };
    this.#count = 0;
    this.#rttSum = 0;
    this.#maxInFlight = 0;
    this.#endsAt = now + this.#windowMs;
    return sample;
  }
}

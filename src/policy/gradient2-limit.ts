/**
 * Gradient2, the adaptive concurrency limit of Netflix's concurrency-limits library
 * (com.netflix.concurrency.limits.limit.Gradient2Limit), as a pure state machine fed one sample
 * per window of finished requests (./rtt-sample-window.ts, as Netflix's WindowedLimit feeds it). The idea is TCP Vegas': a queue forming anywhere downstream shows as
 * round-trip time rising above its usual level, before anything fails, so the limit on requests in
 * flight follows the ratio of the two.
 *
 * Each sample (an RTT, and the most requests in flight while it was measured):
 * - the long-term RTT is an exponential average over `longWindow` samples (a plain mean for the
 *   first 10); when it is more than twice the sample it is pulled down 5% at once, so that after a
 *   long overload the baseline recovers without waiting for the average to forget;
 * - while fewer than half the limit are in flight the limit stays as it is: an idle client says
 *   nothing about capacity ("app limited");
 * - otherwise gradient = rttTolerance × longRtt / rtt, kept within [0.5, 1]: 1 while the sample is
 *   within the tolerance of the baseline, down to 0.5 (never more than halving on one outlier);
 *   the new estimate is limit × gradient + queueSize (the headroom that lets the limit probe
 *   upwards), blended into the limit with weight `smoothing`, and kept within [minLimit, maxLimit].
 *
 * The defaults are Netflix's (GRADIENT2_DEFAULTS in core/policy.ts). Time is whatever unit the RTT
 * samples are in; the filter measures them in ms on the injected clock.
 */
import { GRADIENT2_DEFAULTS, type AdaptiveConcurrencyPolicy } from '../core/policy.js';

const WARMUP_SAMPLES = 10;

export class Gradient2Limit {
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly #smoothing: number;
  readonly #rttTolerance: number;
  readonly #longFactor: number;
  readonly #queueSize: number;
  #estimate: number;
  #longRtt = 0;
  #samples = 0;

  constructor(policy: AdaptiveConcurrencyPolicy = {}) {
    const d = GRADIENT2_DEFAULTS;
    this.minLimit = policy.minLimit ?? d.minLimit;
    this.maxLimit = policy.maxLimit ?? d.maxLimit;
    const initialLimit = policy.initialLimit ?? Math.max(this.minLimit, Math.min(this.maxLimit, d.initialLimit));
    this.#smoothing = policy.smoothing ?? d.smoothing;
    this.#rttTolerance = policy.rttTolerance ?? d.rttTolerance;
    const longWindow = policy.longWindow ?? d.longWindow;
    this.#queueSize = policy.queueSize ?? d.queueSize;
    check(Number.isInteger(this.minLimit) && this.minLimit >= 1, `minLimit must be a whole number >= 1, got ${this.minLimit}`);
    check(Number.isInteger(this.maxLimit) && this.maxLimit >= this.minLimit, `maxLimit must be a whole number >= minLimit (${this.minLimit}), got ${this.maxLimit}`);
    check(Number.isInteger(initialLimit) && initialLimit >= this.minLimit && initialLimit <= this.maxLimit, `initialLimit must be a whole number from minLimit to maxLimit (${this.minLimit}..${this.maxLimit}), got ${initialLimit}`);
    check(this.#smoothing > 0 && this.#smoothing <= 1, `smoothing must be above 0 and at most 1, got ${this.#smoothing}`);
    check(this.#rttTolerance >= 1 && Number.isFinite(this.#rttTolerance), `rttTolerance must be a number >= 1, got ${this.#rttTolerance}`);
    check(Number.isInteger(longWindow) && longWindow >= 1, `longWindow must be a whole number of samples >= 1, got ${longWindow}`);
    check(this.#queueSize >= 0 && Number.isFinite(this.#queueSize), `queueSize must be a number >= 0, got ${this.#queueSize}`);
    this.#estimate = initialLimit;
    this.#longFactor = 2 / (longWindow + 1);
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.#estimate);
  }

  /** The long-term RTT the samples are judged against; 0 before the first sample. */
  get longRtt(): number {
    return this.#longRtt;
  }

  /** One finished request: its round-trip time (above 0) and the requests in flight when it started, itself included. */
  onSample(rtt: number, inFlight: number): number {
    if (!(rtt > 0)) return this.limit;
    if (this.#samples < WARMUP_SAMPLES) {
      this.#samples++;
      this.#longRtt += (rtt - this.#longRtt) / this.#samples;
    } else {
      this.#longRtt += (rtt - this.#longRtt) * this.#longFactor;
    }
    if (this.#longRtt / rtt > 2) this.#longRtt *= 0.95;
    if (inFlight < this.#estimate / 2) return this.limit;
    const gradient = Math.max(0.5, Math.min(1, (this.#rttTolerance * this.#longRtt) / rtt));
    const target = this.#estimate * gradient + this.#queueSize;
    const next = this.#estimate * (1 - this.#smoothing) + target * this.#smoothing;
    this.#estimate = Math.max(this.minLimit, Math.min(this.maxLimit, next));
    return this.limit;
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/**
 * Peak-EWMA load, as in Finagle's `Balancers.p2cPeakEwma` and linkerd2-proxy's balancer (Tower's
 * `PeakEwma`): an exponentially weighted moving average of round-trip time that jumps straight up to
 * any slower observation (the "peak") and decays back down with time constant `decayMs` (10 s, the
 * default of both Finagle and Linkerd). The cost multiplies that latency by the requests in flight
 * plus one, so a fast but busy endpoint and a slow idle one are compared on expected wait. Reading
 * the cost also decays the estimate toward zero, so an endpoint that stopped receiving traffic after
 * one slow response is tried again instead of being starved forever (Finagle does the same).
 *
 * Before any observation an endpoint is charged `initialRttMs`, so new endpoints neither win every
 * pick (cost 0) nor get starved; Linkerd uses a default RTT the same way.
 */
import type { EndpointLoad } from './endpoint-load.js';
import { ENDPOINT_DEFAULTS } from '../core/policy.js';

export interface PeakEwmaOptions {
  /** Time constant of the decay, ms. Default 10 000 (Finagle, Linkerd). */
  decayMs?: number;
  /** Estimate before any response was seen, ms. Default 30. */
  initialRttMs?: number;
}

/** Charged when requests are pending but the estimate has decayed to zero: assume the worst. */
const PENALTY_MS = 1e6;
/**
 * Observed for a request that failed without an answer. A refused connection fails in well under
 * a millisecond: taken as a latency, it made a dead endpoint the cheapest, and p2c sent the request
 * and every retry straight back to it. Decaying like any peak, it costs the endpoint its traffic
 * for tens of seconds unless every other one is slower.
 */
const FAILURE_PENALTY_MS = 1_000;

export class PeakEwmaLoad implements EndpointLoad {
  pending = 0;
  readonly #decayMs: number;
  #estimateMs: number;
  #updatedAt: number;

  constructor(now: number, options: PeakEwmaOptions = {}) {
    this.#decayMs = options.decayMs ?? ENDPOINT_DEFAULTS.ewma.decayMs;
    this.#estimateMs = options.initialRttMs ?? ENDPOINT_DEFAULTS.ewma.initialRttMs;
    this.#updatedAt = now;
  }

  start(): void {
    this.pending++;
  }

  end(startedAt: number, now: number): void {
    this.pending--;
    this.#observe(now, Math.max(0, now - startedAt));
  }

  failed(startedAt: number, now: number): void {
    this.pending--;
    this.#observe(now, Math.max(FAILURE_PENALTY_MS, now - startedAt));
  }

  cost(now: number): number {
    this.#observe(now, 0);
    if (this.#estimateMs === 0 && this.pending > 0) return PENALTY_MS + this.pending;
    return this.#estimateMs * (this.pending + 1);
  }

  /** The current latency estimate in ms (for metrics and tests). */
  estimate(now: number): number {
    this.#observe(now, 0);
    return this.#estimateMs;
  }

  #observe(now: number, rttMs: number): void {
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#updatedAt = Math.max(this.#updatedAt, now);
    if (rttMs > this.#estimateMs) {
      this.#estimateMs = rttMs;
      return;
    }
    const weight = Math.exp(-elapsed / this.#decayMs);
    this.#estimateMs = this.#estimateMs * weight + rttMs * (1 - weight);
  }
}

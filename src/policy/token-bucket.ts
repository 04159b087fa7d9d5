/**
 * A token bucket on the injected clock: `requestsPerSecond` sustained, `burst` at once (default one
 * second's worth). Refilled lazily from the clock when asked, so it keeps no timer. The HTTP
 * rate-limit filter and grpcClient's rate-limit step both use it.
 */
export class TokenBucket {
  readonly requestsPerSecond: number;
  readonly burst: number;
  readonly #perMs: number;
  #tokens: number;
  #updatedAt: number;

  constructor(limit: { requestsPerSecond: number; burst?: number | undefined }, now: number) {
    this.requestsPerSecond = limit.requestsPerSecond;
    this.burst = limit.burst ?? Math.max(1, Math.ceil(limit.requestsPerSecond));
    this.#perMs = limit.requestsPerSecond / 1000;
    this.#tokens = this.burst;
    this.#updatedAt = now;
  }

  /** Takes a token if there is one at `now`; false: the request is over the rate. */
  tryTake(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + (now - this.#updatedAt) * this.#perMs);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * How busy an endpoint looks to the balancer. The balancer calls `start` and `end` around every
 * request and asks `cost` when picking; a lower cost wins. Implementations: least-request (pending
 * count) and peak-EWMA (latency times pending).
 */
export interface EndpointLoad {
  /** Requests sent to this endpoint that have not finished yet. */
  readonly pending: number;
  start(now: number): void;
  /** `startedAt` is the `now` given to the matching `start`. */
  end(startedAt: number, now: number): void;
  /** Instead of `end` when the request failed without an answer (refused, reset); default: `end`. */
  failed?(startedAt: number, now: number): void;
  cost(now: number): number;
  /** The latency estimate (ms) behind the cost, for loads that keep one (peak-EWMA). */
  estimate?(now: number): number;
}

export type LoadFactory = (now: number) => EndpointLoad;

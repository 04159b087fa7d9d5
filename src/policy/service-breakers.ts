/**
 * The circuit breaker of each service of a mesh, shared by everything that calls it: its HTTP
 * client's breaker filter and its grpcClients. The breaker says whether the service as a whole is
 * failing, and a service that fails its HTTP calls is failing its gRPC calls too (one process, one
 * set of endpoints, usually one app); a breaker per protocol would keep sending one of them into an
 * outage the other has already seen. It is the retry budget's sibling (service-retry-budgets.ts).
 *
 * A config reload rebuilds a service's client; with unchanged breaker settings the new client keeps
 * the breaker, open or closed, with its window, so a reload cannot close an open circuit. Changed
 * settings start a new, closed breaker.
 */
import { PerService } from './per-service.js';
import type { Clock } from '../core/clock.js';
import type { CircuitBreakerPolicy } from '../core/policy.js';
import { breakerOptions, FailureRateBreaker, type FailureRateBreakerOptions } from './failure-rate-breaker.js';

export class ServiceBreakers {
  readonly #clock: Clock;
  readonly #breakers = new PerService<FailureRateBreaker>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The breaker of `service` for these settings: the one it has if they are unchanged, else a new one. */
  breakerFor(service: string, policy: CircuitBreakerPolicy = {}): FailureRateBreaker {
    const options = breakerOptions(policy);
    return this.#breakers.get(service, (held) => sameOptions(held.options, options), () => new FailureRateBreaker(options, this.#clock.now()));
  }
}

function sameOptions(a: Readonly<FailureRateBreakerOptions>, b: Readonly<FailureRateBreakerOptions>): boolean {
  return (
    a.errorThresholdPercentage === b.errorThresholdPercentage &&
    a.volumeThreshold === b.volumeThreshold &&
    a.resetTimeoutMs === b.resetTimeoutMs &&
    a.rollingWindowMs === b.rollingWindowMs &&
    a.buckets === b.buckets
  );
}

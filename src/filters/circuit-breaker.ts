/**
 * A service-level circuit breaker: when most recent calls to a service fail, stop sending it traffic
 * for a while and fail fast with CIRCUIT_OPEN, then let a single probe through to see if it healed.
 * It sits below retries (see default-stack.ts), so every attempt's outcome counts and retries do not
 * hammer an open circuit (CIRCUIT_OPEN is never retried). Per-endpoint failures are outlier
 * ejection's job; this one trips only when the service as a whole is failing.
 *
 * It counts attempts, not requests: with the default retries a failing request can add up to four
 * outcomes (maxAttempts), so the default `volumeThreshold` of 20 is reached by five such requests.
 * Counting attempts is what lets it see a service fail whatever the retries do, and stop them.
 *
 * The detector (../policy/failure-rate-breaker.ts) is Hystrix's, as opossum implements it: a rolling
 * window of 10 buckets, opened when more than `errorThresholdPercentage` of the calls in it failed
 * and at least `volumeThreshold` calls were made. The defaults are Hystrix's (50 %, a 10 s window,
 * `volumeThreshold` 20 as its `requestVolumeThreshold`) and `resetTimeout` 10 s to match the window.
 *
 * What counts: a thrown error, and a failure response (response-classifier.ts: the route's response
 * classes, else 5xx), which the caller still receives as a response. A call that ran into a mesh
 * deadline (the abort reason is a TIMEOUT / PER_TRY_TIMEOUT MeshError) counts as a failure, as
 * Finagle's failure accrual counts timeouts: the service was too slow. A call the caller itself
 * aborted does not count at all.
 */
import { ClockParam, CountersParam, ServiceName } from '../core/core-params.js';
import type { Clock } from '../core/clock.js';
import type { Counters } from '../core/counters.js';
import { isMeshError, MeshError } from '../core/errors.js';
import { Param } from '../core/params.js';
import type { CircuitBreakerPolicy } from '../core/policy.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule, HttpService } from '../http/http-stack.js';
import type { MeshResponse } from '../http/http-types.js';
import { breakerOptions, FailureRateBreaker, openCircuitMessage, type BreakerState } from '../policy/failure-rate-breaker.js';
import { isFailureResponse } from '../policy/response-classifier.js';
import { CircuitBreakerPolicyParam } from '../policy/policy-params.js';

export type { BreakerState };

/** The breaker the service's HTTP client shares with its grpcClients; without one the filter makes its own. */
export const SharedBreakerParam = new Param<FailureRateBreaker | undefined>('sharedBreaker', undefined);

/** Handed the breaker once it is built, so that a client can show its state. */
export const OnBreakerBuiltParam = new Param<((breaker: CircuitBreakerService) => void) | undefined>('onBreakerBuilt', undefined);

export interface CircuitBreakerService extends HttpService {
  /** `half-open`: the open period is over and the next call (or the one in flight) is the probe. */
  state(): BreakerState;
  /** Clock time at which an open circuit lets its probe through; undefined while closed. */
  probeAt(): number | undefined;
}

export interface CircuitBreakerDeps {
  clock: Clock;
  counters: Counters;
  /** Names the breaker and its errors; falls back to `ctx.service`. */
  service?: string;
  /** The service's breaker, shared with its grpcClients (service-breakers.ts); default: one of this filter's own. */
  breaker?: FailureRateBreaker | undefined;
}

export const circuitBreakerModule: HttpModule = {
  role: 'circuit-breaker',
  description: 'fails fast with CIRCUIT_OPEN while most recent calls to the service fail (Hystrix-style failure rate)',
  params: [CircuitBreakerPolicyParam, ClockParam, CountersParam, ServiceName, OnBreakerBuiltParam, SharedBreakerParam],
  make(params, next) {
    const policy = params.get(CircuitBreakerPolicyParam);
    if (policy === false) return next;
    const breaker = circuitBreakerService(policy, next, {
      clock: params.get(ClockParam),
      counters: params.get(CountersParam),
      service: params.get(ServiceName),
      breaker: params.get(SharedBreakerParam),
    });
    params.get(OnBreakerBuiltParam)?.(breaker);
    return breaker;
  },
};

export function circuitBreakerService(policy: CircuitBreakerPolicy, next: HttpService, deps: CircuitBreakerDeps): CircuitBreakerService {
  const { clock, counters } = deps;
  const breaker = deps.breaker ?? new FailureRateBreaker(breakerOptions(policy), clock.now());
  let closed = false;

  const rejected = (ctx: CallContext): MeshError => {
    counters.inc('breaker_rejected_total');
    const service = deps.service || ctx.service;
    return new MeshError('CIRCUIT_OPEN', openCircuitMessage(breaker, service, clock.now()), { service, route: ctx.route });
  };

  const probe = (req: Parameters<HttpService['call']>[0], ctx: CallContext): Promise<MeshResponse> =>
    next.call(req, ctx).then(
      (response) => {
        const failed = isFailureResponse(response.statusCode, ctx.routePolicy);
        if (breaker.probeSettled(failed ? 'failure' : 'success', clock.now())) counters.inc('breaker_open_total');
        return response;
      },
      (err: unknown) => {
        // An aborted probe proves nothing: the circuit stays open and the next call probes.
        if (breaker.probeSettled(callerAborted(ctx) ? 'aborted' : 'failure', clock.now())) counters.inc('breaker_open_total');
        throw err;
      },
    );

  return {
    call(req, ctx) {
      if (closed) {
        return Promise.reject(
          new MeshError('CLIENT_CLOSED', `service "${deps.service || ctx.service}": the client was closed; create a new one to send requests`, {
            service: deps.service || ctx.service,
            route: ctx.route,
          }),
        );
      }
      const admission = breaker.admit(clock.now());
      if (admission === 'rejected') return Promise.reject(rejected(ctx));
      if (admission === 'probe') return probe(req, ctx);
      // One then-callback on the closed-circuit path, and no other allocation.
      return next.call(req, ctx).then(
        (response) => {
          if (breaker.record(isFailureResponse(response.statusCode, ctx.routePolicy), clock.now())) counters.inc('breaker_open_total');
          return response;
        },
        (err: unknown) => {
          if (!callerAborted(ctx) && breaker.record(true, clock.now())) counters.inc('breaker_open_total');
          throw err;
        },
      );
    },
    state: () => breaker.state(clock.now()),
    probeAt: () => breaker.probeAt(),
    async close() {
      closed = true;
      await next.close();
    },
  };
}

/** The caller gave up, as opposed to a mesh deadline expiring (which says the service was slow). */
function callerAborted(ctx: CallContext): boolean {
  const signal = ctx.signal;
  return signal?.aborted === true && !isMeshError(signal.reason, 'TIMEOUT') && !isMeshError(signal.reason, 'PER_TRY_TIMEOUT');
}


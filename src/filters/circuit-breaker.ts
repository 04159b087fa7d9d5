/**
 * A service-level circuit breaker: when most recent calls to a service fail, stop sending it traffic
 * for a while and fail fast with CIRCUIT_OPEN, then let a single probe through to see if it healed.
 * It sits below retries (see default-stack.ts), so every attempt's outcome counts and retries do not
 * hammer an open circuit (CIRCUIT_OPEN is never retried). Per-endpoint failures are outlier
 * ejection's job; this one trips only when the service as a whole is failing.
 *
 * The failure-rate detector is opossum's (the Node port of Hystrix): a rolling window cut into 10
 * buckets, opened when more than `errorThresholdPercentage` of the calls in it failed and at least
 * `volumeThreshold` calls were made. The defaults are opossum's / Hystrix's (50 %, a 10 s window)
 * except `volumeThreshold` 20, Hystrix's `requestVolumeThreshold`, so one early failure cannot open
 * it (opossum's default of 0 would), and `resetTimeout` 10 s (opossum: 30 s) to match the window.
 * Opossum's own `timeout` is off: deadlines belong to the timeout filters.
 *
 * Time runs on the injected Clock, not opossum's timers, so the breaker is tested with a ManualClock:
 * - the window's buckets rotate through opossum's `rotateBucketController` hook, driven lazily from
 *   the clock on each call (no interval timer per service at all);
 * - the open period and the half-open probe are kept here: opossum's own reset timer is parked at its
 *   maximum, and after `resetTimeoutMs` on the clock one probe goes to the service while others still
 *   fail fast. A good probe closes the circuit with a fresh window (as Hystrix resets its health
 *   counts on close, so the failures that opened it cannot reopen it at once); a bad one reopens it.
 *
 * What counts: a thrown error, and a failure response (response-classifier.ts: the route's response
 * classes, else 5xx), which the caller still receives as a response. A call that ran into a mesh
 * deadline (the abort reason is a TIMEOUT / PER_TRY_TIMEOUT MeshError) counts as a failure, as
 * Finagle's failure accrual counts timeouts: the service was too slow. A call the caller itself
 * aborted does not count at all: opossum has no "ignore" outcome (its `errorFilter` records a filtered error as a
 * success, which would dilute the failure rate), so the abort is filtered and its fire and success
 * are then taken back out of the current bucket.
 */
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { Clock } from '../core/clock.js';
import { ClockParam, CountersParam, ServiceName } from '../core/core-params.js';
import type { Counters } from '../core/counters.js';
import { isMeshError, MeshError } from '../core/errors.js';
import { Param } from '../core/params.js';
import type { CircuitBreakerPolicy } from '../core/policy.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule, HttpService } from '../client/default-stack.js';
import type { MeshRequest, MeshResponse } from '../client/http-types.js';
import { isFailureResponse } from './response-classifier.js';

/** On by default with the defaults above; `false` removes the breaker from the stack. */
export const CircuitBreakerPolicyParam = new Param<CircuitBreakerPolicy | false>('circuitBreaker', {});
/** Handed the breaker once it is built, so that a client can show its state. */
export const OnBreakerBuiltParam = new Param<((breaker: CircuitBreakerService) => void) | undefined>('onBreakerBuilt', undefined);

export type BreakerState = 'closed' | 'open' | 'half-open';

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
}

export const circuitBreakerModule: HttpModule = {
  role: 'circuit-breaker',
  description: 'fails fast with CIRCUIT_OPEN while most recent calls to the service fail (opossum)',
  make(params, next) {
    const policy = params.get(CircuitBreakerPolicyParam);
    if (policy === false) return next;
    const breaker = circuitBreakerService(policy, next, {
      clock: params.get(ClockParam),
      counters: params.get(CountersParam),
      service: params.get(ServiceName),
    });
    params.get(OnBreakerBuiltParam)?.(breaker);
    return breaker;
  },
};

const BUCKETS = 10;
/** setTimeout's largest delay: opossum's reset timer is parked here because the clock decides. */
const PARKED_TIMER_MS = 2 ** 31 - 1;

/** Carries a failure response through opossum as a failure, to be unwrapped into a response again. */
class FailureResponse extends Error {
  constructor(readonly response: MeshResponse) {
    super(`failure response ${response.statusCode}`);
  }
}

/** Marks an error that ended a call the caller had aborted, so `errorFilter` can tell it apart. */
class CallerAborted extends Error {
  constructor(readonly error: unknown) {
    super('the caller aborted the call');
  }
}

export function circuitBreakerService(policy: CircuitBreakerPolicy, next: HttpService, deps: CircuitBreakerDeps): CircuitBreakerService {
  const errorThresholdPercentage = policy.errorThresholdPercentage ?? 50;
  const volumeThreshold = policy.volumeThreshold ?? 20;
  const resetTimeoutMs = policy.resetTimeoutMs ?? 10_000;
  const rollingWindowMs = policy.rollingWindowMs ?? 10_000;
  validate(errorThresholdPercentage >= 0 && errorThresholdPercentage <= 100, `errorThresholdPercentage must be 0..100, got ${errorThresholdPercentage}`);
  validate(Number.isInteger(volumeThreshold) && volumeThreshold >= 0, `volumeThreshold must be a whole number >= 0, got ${volumeThreshold}`);
  validate(Number.isFinite(resetTimeoutMs) && resetTimeoutMs >= 0, `resetTimeoutMs must be a number of ms >= 0, got ${resetTimeoutMs}`);
  validate(Number.isFinite(rollingWindowMs) && rollingWindowMs >= BUCKETS, `rollingWindowMs must be at least ${BUCKETS} ms, got ${rollingWindowMs}`);

  const { clock, counters } = deps;
  const sliceMs = rollingWindowMs / BUCKETS;
  const rotator = new EventEmitter();
  let slice = Math.floor(clock.now() / sliceMs);
  const catchUp = () => {
    const now = Math.floor(clock.now() / sliceMs);
    for (let i = Math.min(now - slice, BUCKETS); i > 0; i--) rotator.emit('rotate');
    slice = now;
  };

  const breaker = new CircuitBreaker<[MeshRequest, CallContext], MeshResponse>(
    async (req, ctx) => {
      try {
        const response = await next.call(req, ctx);
        if (isFailureResponse(response.statusCode, ctx.routePolicy)) throw new FailureResponse(response);
        return response;
      } catch (err) {
        throw callerAborted(ctx) && !(err instanceof FailureResponse) ? new CallerAborted(err) : err;
      } finally {
        catchUp();
      }
    },
    {
      name: deps.service || 'meshwork',
      timeout: false,
      errorThresholdPercentage,
      volumeThreshold,
      resetTimeout: PARKED_TIMER_MS,
      rollingCountTimeout: rollingWindowMs,
      rollingCountBuckets: BUCKETS,
      rotateBucketController: rotator,
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
      errorFilter: (err: unknown) => err instanceof CallerAborted,
    },
  );

  let probeAt = 0;
  let probing = false;
  const open = () => {
    probeAt = clock.now() + resetTimeoutMs;
    counters.inc('breaker_open_total');
  };
  breaker.on('open', open);
  // Listeners run in order, so opossum's own counting of this success has already happened.
  breaker.on('success', (result: unknown) => {
    if (!(result instanceof CallerAborted)) return;
    const bucket = breaker.status.window[0];
    if (bucket !== undefined) {
      bucket.fires--;
      bucket.successes--;
    }
  });

  const rejected = (ctx: CallContext): MeshError => {
    counters.inc('breaker_rejected_total');
    const service = deps.service || ctx.service;
    const wait = Math.max(0, Math.ceil(probeAt - clock.now()));
    const when = probing
      ? 'a probe request is in flight now; calls resume if it succeeds'
      : `it lets one probe request through in ${wait} ms`;
    return new MeshError(
      'CIRCUIT_OPEN',
      `service "${service}": circuit breaker is open because more than ${errorThresholdPercentage}% of recent calls failed; ${when}. Failing fast instead of adding load; check the service's health.`,
      { service, route: ctx.route },
    );
  };

  const probe = async (req: MeshRequest, ctx: CallContext): Promise<MeshResponse> => {
    probing = true;
    let outcome: 'success' | 'failure' | 'aborted' = 'failure';
    try {
      const response = await next.call(req, ctx);
      outcome = isFailureResponse(response.statusCode, ctx.routePolicy) ? 'failure' : 'success';
      return response;
    } catch (err) {
      if (callerAborted(ctx)) outcome = 'aborted';
      throw err;
    } finally {
      probing = false;
      if (outcome === 'success') {
        for (let i = 0; i < BUCKETS; i++) rotator.emit('rotate');
        slice = Math.floor(clock.now() / sliceMs);
        breaker.close();
      } else if (outcome === 'failure') {
        open();
      }
      // An aborted probe proves nothing: the circuit stays open and the next call probes.
    }
  };

  return {
    async call(req, ctx) {
      if (breaker.isShutdown) {
        throw new MeshError('CLIENT_CLOSED', `service "${deps.service || ctx.service}": the client was closed; create a new one to send requests`, {
          service: deps.service || ctx.service,
          route: ctx.route,
        });
      }
      catchUp();
      if (!breaker.closed) {
        if (probing || clock.now() < probeAt) throw rejected(ctx);
        return probe(req, ctx);
      }
      // A then-callback, not await: one promise hop less per request on the closed-circuit path.
      return (breaker.fire(req, ctx) as Promise<MeshResponse>).then(undefined, (err: unknown) => {
        if (err instanceof FailureResponse) return err.response;
        if (err instanceof CallerAborted) throw err.error;
        if ((err as { code?: unknown } | null)?.code === 'EOPENBREAKER') throw rejected(ctx);
        throw err;
      });
    },
    state() {
      if (breaker.closed) return 'closed';
      return probing || clock.now() >= probeAt ? 'half-open' : 'open';
    },
    probeAt() {
      return breaker.closed ? undefined : probeAt;
    },
    async close() {
      breaker.shutdown();
      await next.close();
    },
  };
}

/** The caller gave up, as opposed to a mesh deadline expiring (which says the service was slow). */
function callerAborted(ctx: CallContext): boolean {
  const signal = ctx.signal;
  return signal?.aborted === true && !isMeshError(signal.reason, 'TIMEOUT') && !isMeshError(signal.reason, 'PER_TRY_TIMEOUT');
}

function validate(ok: boolean, message: string): void {
  if (!ok) throw new MeshError('INVALID_OPTIONS', `circuitBreaker.${message}`);
}

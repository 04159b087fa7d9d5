/**
 * Retries, the way Linkerd and Finagle bound them: a retry happens only for a failure that is safe
 * to repeat, only while a retry budget (./retry-budget.ts) says the service can take the extra load,
 * and only after a jittered backoff (./backoff.ts) that still fits the request's deadline.
 *
 * What is safe to repeat:
 * - CONNECT_FAILED: no byte of the request was written, so the app never saw it; always retried
 *   (Finagle's RequeueFilter does the same for any method).
 * - a failure response (response-classifier.ts; for gRPC, a trailers-only status in
 *   `grpcStatusCodes`), ENDPOINT_FAILED or PER_TRY_TIMEOUT: the app may have acted on the request,
 *   so only on a route marked `isRetryable: true`, as in Linkerd, where a matched route without it
 *   is never retried. A request that matches no route follows `retryNonRouted`, which defaults to
 *   the method being idempotent (RFC 9110 §9.2.2: GET HEAD OPTIONS PUT DELETE TRACE); Linkerd
 *   retries no unrouted request, which `retryNonRouted: false` gives.
 * - on a route with Envoy retry conditions (`retries.retryOn`, an Istio route's `retries`): exactly
 *   what they list, whatever the method (./retry-conditions.ts), up to the route's `maxAttempts`.
 * - never: the caller's abort, the total TIMEOUT set above us, CIRCUIT_OPEN / CONCURRENCY_LIMITED /
 *   RATE_LIMITED (retrying load-shedding defeats it), and injected faults (a response marked
 *   `x-meshwork-fault: abort`; Envoy and Istio likewise never retry their own injected faults).
 *
 * When a retry is refused (attempts, deadline, budget) the caller gets the last failure as it was:
 * the failed response with its body unread, or the last error. Nothing ever waits for budget.
 *
 * A request body must be replayable: strings and byte arrays are; a stream is buffered up to
 * `maxBodyBytes` (64 KiB, linkerd2-proxy's default retry buffer) before the first attempt. A longer
 * stream is sent as it comes (the bytes already read, then the rest) and that request is not retried,
 * rather than buffering unbounded uploads in memory.
 */
import type { Clock, Random } from '../core/clock.js';
import { ClockParam, CountersParam, RandomParam } from '../core/core-params.js';
import type { Counters } from '../core/counters.js';
import { isMeshError, MeshError } from '../core/errors.js';
import { RETRY_DEFAULTS, type RetryPolicy } from '../core/policy.js';
import { applyFilter, type CallContext, type Filter } from '../core/service.js';
import type { HttpModule, HttpService } from '../http/http-stack.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { ExponentialBackoff, sleep } from '../policy/backoff.js';
import { isGrpcContentType } from '../policy/grpc-over-http.js';
import { isFailureResponse } from '../policy/response-classifier.js';
import { bufferBody, isReplayableBody } from '../policy/replayable-body.js';
import { isInjectedFault } from '../policy/injected-fault.js';
import { RetryBudget, RetryBudgetParam } from '../policy/retry-budget.js';
import { RetryPolicyParam } from '../policy/policy-params.js';
import { compileRetryConditions, type RetryConditions } from '../policy/retry-conditions.js';
import type { RoutePolicy, RouteRetryPolicy } from '../core/policy.js';


export interface RetryFilterDeps {
  clock: Clock;
  random: Random;
  counters: Counters;
  /** Default: a budget of this filter's own, from `policy.budget`. */
  budget?: RetryBudget | undefined;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export const retryModule: HttpModule = {
  role: 'retry',
  description: 'retries safe failures within a retry budget, with jittered exponential backoff',
  params: [RetryPolicyParam, RetryBudgetParam, ClockParam, RandomParam, CountersParam],
  make(params, next) {
    const policy = params.get(RetryPolicyParam);
    if (policy === false) return next;
    const filter = retryFilter(policy, {
      clock: params.get(ClockParam),
      random: params.get(RandomParam),
      counters: params.get(CountersParam),
      budget: params.get(RetryBudgetParam),
    });
    return applyFilter(filter, next);
  },
};

type Failure = { response: MeshResponse; error?: undefined } | { response?: undefined; error: unknown };

export function retryFilter(policy: RetryPolicy, deps: RetryFilterDeps): Filter<MeshRequest, MeshResponse> {
  const maxAttempts = policy.maxAttempts ?? RETRY_DEFAULTS.maxAttempts;
  const maxBodyBytes = policy.maxBodyBytes ?? RETRY_DEFAULTS.maxBodyBytes;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new MeshError('INVALID_OPTIONS', `retries.maxAttempts must be a whole number >= 1 (the first attempt counts), got ${maxAttempts}`);
  }
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new MeshError('INVALID_OPTIONS', `retries.maxBodyBytes must be a whole number of bytes >= 0, got ${maxBodyBytes}`);
  }
  const { clock, counters } = deps;
  let budget: RetryBudget;
  let backoff: ExponentialBackoff;
  try {
    budget = deps.budget ?? new RetryBudget(policy.budget, clock);
    backoff = new ExponentialBackoff(policy.backoff, deps.random);
  } catch (err) {
    throw new MeshError('INVALID_OPTIONS', `retries: ${(err as Error).message}`, { cause: err });
  }

  const routeAllows = (req: MeshRequest, ctx: CallContext): boolean => {
    const route = ctx.routePolicy;
    if (route === undefined) return policy.retryNonRouted ?? IDEMPOTENT_METHODS.has(req.method.toUpperCase());
    return route.retry !== undefined ? route.retry.maxAttempts > 1 : route.isRetryable === true;
  };
  // Header values are strings: compared as such, no parsing per response.
  const retryableGrpcStatuses = new Set((policy.grpcStatusCodes ?? RETRY_DEFAULTS.grpcStatusCodes).map(String));
  // Read once per route, on its first failure.
  const conditionsByRoute = new WeakMap<RoutePolicy, RetryConditions>();
  const conditionsOf = (route: RoutePolicy, retry: RouteRetryPolicy): RetryConditions => {
    let conditions = conditionsByRoute.get(route);
    if (conditions === undefined) conditionsByRoute.set(route, (conditions = compileRetryConditions(retry.retryOn)));
    return conditions;
  };

  const retryableError = (err: unknown, req: MeshRequest, ctx: CallContext): boolean => {
    const connectFailed = isMeshError(err, 'CONNECT_FAILED') || isMeshError(err, 'TLS_FAILED');
    const broke = !connectFailed && (isMeshError(err, 'ENDPOINT_FAILED') || isMeshError(err, 'PER_TRY_TIMEOUT'));
    const route = ctx.routePolicy;
    if (route?.retry !== undefined) {
      const conditions = conditionsOf(route, route.retry);
      return connectFailed ? conditions.connectFailure : broke && conditions.reset;
    }
    // Nothing reached the app: another endpoint may well be fine.
    if (connectFailed) return true;
    return broke && routeAllows(req, ctx);
  };

  const failedResponse = (response: MeshResponse, req: MeshRequest, ctx: CallContext): boolean => {
    const route = ctx.routePolicy;
    if (route?.retry !== undefined) {
      const conditions = conditionsOf(route, route.retry);
      return conditions.statuses.has(response.statusCode) || (conditions.grpcStatuses.size > 0 && isRetryableGrpcStatus(response, conditions.grpcStatuses));
    }
    const failed = isFailureResponse(response.statusCode, route) || isRetryableGrpcStatus(response, retryableGrpcStatuses);
    return failed && routeAllows(req, ctx);
  };

  /** The outcome of an attempt: a response to return as it is, or a failure that may be retried. */
  const judge = (req: MeshRequest, ctx: CallContext, outcome: { response: MeshResponse } | { error: unknown }): Failure | undefined => {
    if ('response' in outcome) {
      const response = outcome.response;
      if (!failedResponse(response, req, ctx) || isInjectedFault(response)) return undefined;
      return { response };
    }
    if (ctx.signal?.aborted || !retryableError(outcome.error, req, ctx)) throw outcome.error;
    return { error: outcome.error };
  };

  const attempts = async (req: MeshRequest, attemptReq: MeshRequest, ctx: CallContext, next: HttpService, firstFailure?: Failure): Promise<MeshResponse> => {
    const signal = ctx.signal;
    for (let attempt = 1; ; attempt++) {
      let failure: Failure;
      if (attempt === 1 && firstFailure !== undefined) {
        failure = firstFailure;
      } else {
        let verdict: Failure | undefined;
        try {
          const response = await next.call(attemptReq, ctx);
          verdict = judge(req, ctx, { response });
          if (verdict === undefined) return response;
        } catch (error) {
          verdict = judge(req, ctx, { error });
        }
        failure = verdict!;
      }

      if (attempt >= (ctx.routePolicy?.retry?.maxAttempts ?? maxAttempts)) return giveUp(failure);
      const delay = backoff.delayFor(attempt);
      // Checked before the budget, so a retry that could not finish in time spends no budget.
      if (ctx.deadline !== undefined && clock.now() + delay >= ctx.deadline) {
        counters.inc('retry_skipped_deadline_total');
        return giveUp(failure);
      }
      if (!budget.tryWithdraw()) {
        counters.inc('retry_budget_exhausted_total');
        return giveUp(failure);
      }
      // The failed response's connection is reused once its body has been read; past 128 KiB it is
      // cheaper to drop the connection than to read on.
      failure.response?.discard();
      await sleep(clock, delay, signal);
      ctx.attempt++;
      counters.inc('retries_total');
    }
  };

  const withStreamBody = async (req: MeshRequest, ctx: CallContext, next: HttpService): Promise<MeshResponse> => {
    const prepared = await bufferBody(req.body as AsyncIterable<unknown>, maxBodyBytes, ctx.signal);
    if (prepared.kind === 'buffered') return attempts(req, { ...req, body: prepared.body }, ctx, next);
    counters.inc('retry_skipped_body_too_large_total');
    return next.call({ ...req, body: prepared.body }, ctx);
  };

  return (req, ctx, next) => {
    budget.deposit();
    const body = req.body;
    // Strings and byte arrays are replayed as they are; only streams need buffering (an await less).
    if (isReplayableBody(body)) {
      // The common case, a first attempt that succeeds, costs one then-callback and no async frame.
      return next.call(req, ctx).then(
        (response) => {
          const failure = judge(req, ctx, { response });
          return failure === undefined ? response : attempts(req, req, ctx, next, failure);
        },
        (error: unknown) => attempts(req, req, ctx, next, judge(req, ctx, { error })),
      );
    }
    // A stream is buffered only when a retry is allowed at all: a gRPC stream, say, must flow at once.
    if (typeof (body as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function' && routeAllows(req, ctx)) return withStreamBody(req, ctx, next);
    // A body kind we cannot prove replayable is sent once rather than risk a corrupted retry.
    return next.call(req, ctx);
  };
}

function giveUp(failure: Failure): MeshResponse {
  if (failure.response !== undefined) return failure.response;
  throw failure.error;
}

/**
 * A gRPC reply that failed before sending anything ("trailers-only": the status is in the headers)
 * with one of the configured statuses (UNAVAILABLE by default, as Linkerd's default for gRPC) is
 * safe to retry. A status that only arrives in the trailers comes after the response has started,
 * too late to retry.
 */
function isRetryableGrpcStatus(response: MeshResponse, statuses: ReadonlySet<string>): boolean {
  const status = response.header('grpc-status');
  return typeof status === 'string' && statuses.has(status) && isGrpcContentType(response.header('content-type'));
}

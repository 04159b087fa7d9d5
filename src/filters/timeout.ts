/**
 * Timeouts, as Linkerd defines them: the total timeout covers the whole request, retries and backoff
 * included, and a per-try timeout bounds each attempt. The total also fixes the request's deadline,
 * which is propagated to the next hop in `x-meshwork-deadline-ms` (./deadline-header.ts) and honoured
 * when a request arrives carrying one: a meshwork client (or sidecar) never waits longer than its
 * caller will.
 *
 * A timeout covers the time until the response's headers arrive; reading the body afterwards is the
 * caller's business (it can pass its own AbortSignal), as with undici's headersTimeout.
 */
import type { Clock } from '../core/clock.js';
import { ClockParam, CountersParam } from '../core/core-params.js';
import { MeshError, type MeshErrorCode } from '../core/errors.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule, HttpService } from '../http/http-stack.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { readDeadlineHeader, withDeadlineHeader } from '../policy/deadline-header.js';
import { TimeoutPolicyParam } from '../policy/policy-params.js';


export const totalTimeoutModule: HttpModule = {
  role: 'total-timeout',
  description: 'bounds the whole request, retries included; sets and honours the propagated deadline',
  params: [TimeoutPolicyParam, ClockParam, CountersParam],
  make(params, next) {
    const { totalMs } = params.get(TimeoutPolicyParam);
    const clock = params.get(ClockParam);
    const counters = params.get(CountersParam);
    // Always present: a route's timeout or an incoming deadline header may apply even with no total.
    return {
      call(req, ctx) {
        const propagated = req.headers == null ? undefined : readDeadlineHeader(req.headers);
        const routeMs = ctx.routePolicy?.timeoutMs;
        let limitMs = totalMs ?? Infinity;
        if (routeMs !== undefined && routeMs < limitMs) limitMs = routeMs;
        if (propagated !== undefined && propagated < limitMs) limitMs = propagated;
        if (limitMs === Infinity) return next.call(req, ctx);
        const deadline = clock.now() + limitMs;
        ctx.deadline = ctx.deadline === undefined ? deadline : Math.min(ctx.deadline, deadline);
        return withTimeout(next, req, ctx, clock, ctx.deadline - clock.now(), () => {
          counters.inc('timeouts_total');
          return timeoutError('TIMEOUT', ctx, limitMs, propagated === limitMs ? 'the propagated deadline' : 'the total timeout');
        });
      },
      close: () => next.close(),
    };
  },
};

export const perTryTimeoutModule: HttpModule = {
  role: 'per-try-timeout',
  description: 'bounds one attempt; writes the remaining deadline into the outgoing request',
  params: [TimeoutPolicyParam, ClockParam, CountersParam],
  make(params, next) {
    const { perTryMs } = params.get(TimeoutPolicyParam);
    const clock = params.get(ClockParam);
    const counters = params.get(CountersParam);
    return {
      call(req, ctx) {
        const remaining = ctx.deadline === undefined ? undefined : ctx.deadline - clock.now();
        const outgoing = remaining === undefined ? req : withDeadlineHeader(req, remaining);
        // A route's own per-try timeout (an Istio route's retries.perTryTimeout) replaces the service's.
        const limitMs = ctx.routePolicy?.perTryTimeoutMs ?? perTryMs;
        if (limitMs === undefined || (remaining !== undefined && remaining <= limitMs)) return next.call(outgoing, ctx);
        return withTimeout(next, outgoing, ctx, clock, limitMs, () => {
          counters.inc('per_try_timeouts_total');
          return timeoutError('PER_TRY_TIMEOUT', ctx, limitMs, 'the per-try timeout');
        });
      },
      close: () => next.close(),
    };
  },
};

function timeoutError(code: MeshErrorCode, ctx: CallContext, limitMs: number, what: string): MeshError {
  const route = ctx.route ? ` route "${ctx.route}"` : '';
  const endpoint = ctx.endpoint ? ` (last endpoint ${ctx.endpoint})` : '';
  return new MeshError(code, `service "${ctx.service}"${route}: timed out after ${Math.round(limitMs)} ms, ${what}${endpoint}`, {
    service: ctx.service,
    route: ctx.route,
    endpoint: ctx.endpoint,
  });
}

/**
 * Runs the rest of the stack with a signal that also fires at the timeout, so the layers below stop
 * their work (undici aborts the request) instead of finishing it for nobody.
 */
function withTimeout(next: HttpService, req: MeshRequest, ctx: CallContext, clock: Clock, ms: number, makeError: () => MeshError): Promise<MeshResponse> {
  const controller = new AbortController();
  const parent = ctx.signal;
  const onParentAbort = () => controller.abort(parent!.reason);
  if (parent) {
    if (parent.aborted) return Promise.reject(parent.reason);
    parent.addEventListener('abort', onParentAbort, { once: true });
  }
  const inner: CallContext = { ...ctx, signal: controller.signal };
  return new Promise<MeshResponse>((resolve, reject) => {
    const timer = clock.setTimer(() => {
      const error = makeError();
      controller.abort(error);
      reject(error);
    }, Math.max(0, ms));
    next.call(req, inner).then(
      (res) => {
        timer.cancel();
        parent?.removeEventListener('abort', onParentAbort);
        copyBack(ctx, inner);
        if (controller.signal.aborted) {
          // Lost the race: the caller already has the timeout; free the connection.
          res.discard();
          return;
        }
        resolve(res);
      },
      (err: unknown) => {
        timer.cancel();
        parent?.removeEventListener('abort', onParentAbort);
        copyBack(ctx, inner);
        reject(controller.signal.aborted && controller.signal.reason instanceof MeshError ? controller.signal.reason : err);
      },
    );
  });
}

/** What lower layers learnt about the call (endpoint, attempt, destination and subset) stays visible above. */
function copyBack(outer: CallContext, inner: CallContext): void {
  outer.endpoint = inner.endpoint;
  outer.attempt = inner.attempt;
  outer.destination = inner.destination;
  outer.subset = inner.subset;
}


/**
 * Fault injection with Istio's semantics: a list of faults, each optionally limited to matching
 * requests (the bookinfo example delays only `end-user: jason`); the first whose match applies is
 * used; its delay fires with probability `percent`, then its abort (a made-up response with
 * `httpStatus`) with its own probability. A matched route's own faults (an Istio route's `fault`)
 * replace the service's for its requests. The filter sits above retries, so an injected failure is
 * never retried — the point is to see how the caller copes — and aborts carry
 * `x-meshwork-fault: abort` so the retry filter and people reading responses can tell them apart.
 */
import type { Clock, Random } from '../core/clock.js';
import { ClockParam, CountersParam, RandomParam } from '../core/core-params.js';
import type { RoutePolicy } from '../core/policy.js';
import type { HttpModule } from '../http/http-stack.js';
import { sleep } from '../policy/backoff.js';
import { grpcStatusForHttp, isGrpcMessage } from '../policy/grpc-over-http.js';
import { compileFaults, type CompiledFault } from '../policy/compiled-faults.js';
import { FAULT_HEADER } from '../policy/injected-fault.js';
import { syntheticResponse } from '../policy/synthetic-response.js';
import { FaultPolicyParam, RoutesParam } from '../policy/policy-params.js';


export const faultModule: HttpModule = {
  role: 'fault',
  description: 'injects delays and aborts (Istio semantics), optionally only for matching requests',
  params: [FaultPolicyParam, RoutesParam, ClockParam, RandomParam, CountersParam],
  make(params, next) {
    const compiled = compileFaults(params.get(FaultPolicyParam), 'faults');
    const byRoute = new Map<RoutePolicy, CompiledFault[]>();
    params.get(RoutesParam).forEach((route, i) => {
      if (route.faults?.length) byRoute.set(route, compileFaults(route.faults, `routes[${i}] ("${route.name}").faults`));
    });
    if (compiled.length === 0 && byRoute.size === 0) return next;
    const clock: Clock = params.get(ClockParam);
    const random: Random = params.get(RandomParam);
    const counters = params.get(CountersParam);
    return {
      async call(req, ctx) {
        const faults = (ctx.routePolicy === undefined ? undefined : byRoute.get(ctx.routePolicy)) ?? compiled;
        const fault = faults.find((f) => f.matches === undefined || f.matches(req));
        if (fault === undefined) return next.call(req, ctx);
        if (fault.delay && random() * 100 < fault.delay.percent) {
          counters.inc('faults_delayed_total');
          await sleep(clock, fault.delay.fixedDelayMs, ctx.signal);
        }
        if (fault.abort && random() * 100 < fault.abort.percent) {
          counters.inc('faults_aborted_total');
          if (isGrpcMessage(req.headers)) {
            // A gRPC caller reads its status from grpc-status, not the HTTP status (a trailers-only reply).
            const code = fault.abort.grpcStatus ?? grpcStatusForHttp(fault.abort.httpStatus);
            return syntheticResponse(200, { [FAULT_HEADER]: 'abort', 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': 'fault injected by meshwork' }, '');
          }
          return syntheticResponse(fault.abort.httpStatus, { [FAULT_HEADER]: 'abort' }, `fault injected by meshwork: ${fault.abort.httpStatus}\n`);
        }
        return next.call(req, ctx);
      },
      close: () => next.close(),
    };
  },
};

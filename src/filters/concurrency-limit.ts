/**
 * A bulkhead: at most `maxConcurrency` requests to the service in flight from this process; the
 * next is refused at once with CONCURRENCY_LIMITED rather than queued, so a slow dependency cannot
 * soak up every socket and every await of the caller (Hystrix's semaphore isolation).
 */
import { CountersParam } from '../core/core-params.js';
import { MeshError } from '../core/errors.js';
import type { HttpModule } from '../http/http-stack.js';
import { LimitsParam } from '../policy/policy-params.js';


export const concurrencyLimitModule: HttpModule = {
  role: 'concurrency-limit',
  description: 'refuses requests beyond maxConcurrency in flight (bulkhead)',
  params: [LimitsParam, CountersParam],
  make(params, next) {
    const max = params.get(LimitsParam).maxConcurrency;
    if (max === undefined) return next;
    const counters = params.get(CountersParam);
    let inFlight = 0;
    return {
      async call(req, ctx) {
        if (inFlight >= max) {
          counters.inc('concurrency_limited_total');
          throw new MeshError('CONCURRENCY_LIMITED', `service "${ctx.service}": ${max} requests already in flight (limits.maxConcurrency); refused without sending`, { service: ctx.service, route: ctx.route });
        }
        inFlight++;
        try {
          return await next.call(req, ctx);
        } finally {
          inFlight--;
        }
      },
      close: () => next.close(),
    };
  },
};


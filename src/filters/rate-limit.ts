/**
 * A local token bucket (../policy/token-bucket.ts): `requestsPerSecond` sustained, `burst` at once (default one second's worth).
 * It protects a dependency from this process alone — a global limit needs a shared counter, which is
 * a different tool — and refuses at once with RATE_LIMITED instead of delaying, so callers decide.
 */
import { ClockParam, CountersParam } from '../core/core-params.js';
import { MeshError } from '../core/errors.js';
import type { HttpModule } from '../http/http-stack.js';
import { LimitsParam } from '../policy/policy-params.js';
import { TokenBucket } from '../policy/token-bucket.js';

export const rateLimitModule: HttpModule = {
  role: 'rate-limit',
  description: 'local token bucket: requestsPerSecond sustained, burst at once',
  params: [LimitsParam, ClockParam, CountersParam],
  make(params, next) {
    const limit = params.get(LimitsParam).rateLimit;
    if (limit === undefined) return next;
    const clock = params.get(ClockParam);
    const counters = params.get(CountersParam);
    const bucket = new TokenBucket(limit, clock.now());
    return {
      call(req, ctx) {
        if (!bucket.tryTake(clock.now())) {
          counters.inc('rate_limited_total');
          return Promise.reject(
            new MeshError('RATE_LIMITED', `service "${ctx.service}": over ${limit.requestsPerSecond} requests/s (burst ${bucket.burst}); refused without sending`, { service: ctx.service, route: ctx.route }),
          );
        }
        return next.call(req, ctx);
      },
      close: () => next.close(),
    };
  },
};

/**
 * An adaptive concurrency limit (`limits.adaptive`): like the bulkhead (./concurrency-limit.ts), a
 * request over the limit is refused at once with CONCURRENCY_LIMITED, never queued; unlike it, the
 * limit is not a number someone guessed but follows the service's measured round-trip time against
 * its long-term baseline, with Netflix's Gradient2 (../policy/gradient2-limit.ts): it grows while
 * latency holds and shrinks as a queue builds downstream, so an overloaded backend sheds load back
 * to the callers instead of queueing it, and gets it back when latency recovers.
 *
 * What is measured: the time from this layer to the response head. It sits with the other limits
 * near the top of the stack (default-stack.ts), so the time includes retries and their backoff, as
 * Envoy's adaptive concurrency filter measures the whole request: a retry storm reads as latency
 * and shrinks the limit. A mesh timeout is a sample too (the request took at least that long, as
 * Netflix's limiter counts a drop); the caller's own abort and failures that say nothing of the
 * service's speed (no endpoints, refused connections, an open breaker) are not. The limit moves
 * once per sample window (`sampleWindowMs`, ../policy/rtt-sample-window.ts), on the window's
 * average, not on every request.
 *
 * The current limit is handed out through OnAdaptiveLimitParam; the client exports it as the
 * `meshwork_concurrency_limit{authority}` gauge, read at scrape time.
 */
import { ClockParam, CountersParam } from '../core/core-params.js';
import { isMeshError, MeshError } from '../core/errors.js';
import { Param } from '../core/params.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule } from '../http/http-stack.js';
import { GRADIENT2_DEFAULTS } from '../core/policy.js';
import { Gradient2Limit } from '../policy/gradient2-limit.js';
import { RttSampleWindow } from '../policy/rtt-sample-window.js';
import { LimitsParam } from '../policy/policy-params.js';

/** Handed a reader of the current limit once the module is built, so that a client can export it. */
export const OnAdaptiveLimitParam = new Param<((currentLimit: () => number) => void) | undefined>('onAdaptiveLimit', undefined);

export const adaptiveConcurrencyModule: HttpModule = {
  role: 'adaptive-concurrency',
  description: 'refuses requests beyond a concurrency limit that follows the measured latency (Gradient2)',
  params: [LimitsParam, ClockParam, CountersParam, OnAdaptiveLimitParam],
  make(params, next) {
    const policy = params.get(LimitsParam).adaptive;
    if (policy === undefined) return next;
    const clock = params.get(ClockParam);
    let limit: Gradient2Limit;
    let window: RttSampleWindow;
    try {
      limit = new Gradient2Limit(policy);
      window = new RttSampleWindow(policy.sampleWindowMs ?? GRADIENT2_DEFAULTS.sampleWindowMs, policy.minWindowSamples ?? GRADIENT2_DEFAULTS.minWindowSamples, clock);
    } catch (err) {
      throw new MeshError('INVALID_OPTIONS', `limits.adaptive.${(err as Error).message}`, { cause: err });
    }
    const sample = (rtt: number, inFlightAtStart: number) => {
      const windowed = window.add(rtt, inFlightAtStart);
      if (windowed !== undefined) limit.onSample(windowed.rtt, windowed.inFlight);
    };
    const counters = params.get(CountersParam);
    params.get(OnAdaptiveLimitParam)?.(() => limit.limit);
    let inFlight = 0;
    const sampled = (err: unknown, ctx: CallContext): boolean => ctx.signal?.aborted !== true && (isMeshError(err, 'TIMEOUT') || isMeshError(err, 'PER_TRY_TIMEOUT'));
    return {
      call(req, ctx) {
        if (inFlight >= limit.limit) {
          counters.inc('concurrency_limited_total');
          return Promise.reject(
            new MeshError(
              'CONCURRENCY_LIMITED',
              `service "${ctx.service}": ${inFlight} requests in flight reach the adaptive concurrency limit (limits.adaptive; the latency baseline is ${limit.longRtt.toFixed(1)} ms); refused without sending`,
              { service: ctx.service, route: ctx.route },
            ),
          );
        }
        const startedWith = ++inFlight;
        const startedAt = clock.now();
        return next.call(req, ctx).then(
          (response) => {
            inFlight--;
            sample(clock.now() - startedAt, startedWith);
            return response;
          },
          (err: unknown) => {
            inFlight--;
            if (sampled(err, ctx)) sample(clock.now() - startedAt, startedWith);
            throw err;
          },
        );
      },
      close: () => next.close(),
    };
  },
};

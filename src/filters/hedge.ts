/**
 * Hedged requests, Finagle's backup requests ("The Tail at Scale", Dean and Barroso, 2013): when an
 * attempt has not answered by the latency most of the route's requests beat (its observed
 * `percentile`, p95 by default), a second attempt goes to another endpoint, and the first response
 * wins; the other attempt is cancelled. Independent slow replicas then cost the caller the
 * percentile plus one more round trip instead of their whole tail, for about (1 − percentile) more
 * requests.
 *
 * - Only routes marked `isIdempotent`: a hedged request may be processed twice, which the route's
 *   owner must have said is harmless. The body must be replayable (no stream; the retry filter
 *   above has already read a small one into memory), and upgrades are never hedged.
 * - Each backup is paid from the retry budget, like a retry: when all replicas are slow together a
 *   backup cannot help, and the budget caps what they add (retryRatio of the traffic plus the
 *   floor). Refused backups are counted (`hedge_budget_exhausted_total`).
 * - The percentile is the route's own, over `windowMs` (30 s, Finagle's), taken from the time each
 *   request took to its first good response (../policy/latency-percentile-tracker.ts). Measuring
 *   the winner keeps it stable: the fastest requests finish before any backup goes, so hedging
 *   moves only the tail above the percentile, never the percentile itself. Failure responses are
 *   not measured (a fast 503 says nothing of how long an answer takes). Until `minSamples` requests
 *   have been measured the route is not hedged.
 * - A failure (an error, or a failure response by the route's classes) does not win while the other
 *   attempt is still out: the other may yet succeed. When both fail, the later failure is returned
 *   and the retry filter above judges it as any other.
 * - The backup asks the balancer for another endpoint than the first attempt's (`avoidEndpoint`);
 *   it may also go to another split destination, as a retry may.
 *
 * The module sits below retries (each attempt may be hedged; a hedged pair's failure is what retries
 * judge) and above the split and the breaker, so that both attempts are balanced and counted like
 * any attempt; the cancelled one counts as aborted, which neither the breaker nor outlier
 * detection hold against the endpoint.
 */
import type { Clock } from '../core/clock.js';
import { ClockParam, CountersParam } from '../core/core-params.js';
import type { Counters } from '../core/counters.js';
import { MeshError } from '../core/errors.js';
import { LightAbortSignal } from '../core/light-abort-signal.js';
import { HEDGING_DEFAULTS } from '../core/policy.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule, HttpService } from '../http/http-stack.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { isReplayableBody } from '../policy/replayable-body.js';
import { LatencyPercentileTracker } from '../policy/latency-percentile-tracker.js';
import { HedgingParam, RoutesParam } from '../policy/policy-params.js';
import { isFailureResponse } from '../policy/response-classifier.js';
import { RetryBudget, RetryBudgetParam } from '../policy/retry-budget.js';

interface HedgeDeps {
  next: HttpService;
  clock: Clock;
  counters: Counters;
  budget: RetryBudget;
  minDelayMs: number;
}

export const hedgeModule: HttpModule = {
  role: 'hedge',
  description: 'on idempotent routes, a backup attempt to another endpoint once the first is slower than the route\'s percentile (Finagle backup requests)',
  params: [HedgingParam, RoutesParam, RetryBudgetParam, ClockParam, CountersParam],
  make(params, next) {
    const policy = params.get(HedgingParam);
    if (policy === undefined || !params.get(RoutesParam).some((r) => r.isIdempotent === true)) return next;
    const clock = params.get(ClockParam);
    const options = {
      percentile: policy.percentile ?? HEDGING_DEFAULTS.percentile,
      windowMs: policy.windowMs ?? HEDGING_DEFAULTS.windowMs,
      minSamples: policy.minSamples ?? HEDGING_DEFAULTS.minSamples,
    };
    const minDelayMs = policy.minDelayMs ?? HEDGING_DEFAULTS.minDelayMs;
    try {
      new LatencyPercentileTracker(options, clock);
      if (!(minDelayMs >= 0)) throw new RangeError(`minDelayMs must be a number of ms >= 0, got ${minDelayMs}`);
    } catch (err) {
      throw new MeshError('INVALID_OPTIONS', `hedging: ${(err as Error).message}`, { cause: err });
    }
    const shared = params.get(RetryBudgetParam);
    // With retries off there is no service budget: hedging keeps one of its own, with the same defaults.
    const budget = shared ?? new RetryBudget(undefined, clock);
    const deps: HedgeDeps = { next, clock, counters: params.get(CountersParam), budget, minDelayMs };
    const trackers = new Map<string, LatencyPercentileTracker>();

    return {
      call(req, ctx) {
        const route = ctx.routePolicy;
        if (route?.isIdempotent !== true || !isReplayable(req)) return next.call(req, ctx);
        let tracker = trackers.get(route.name);
        if (tracker === undefined) trackers.set(route.name, (tracker = new LatencyPercentileTracker(options, clock)));
        if (shared === undefined) budget.deposit();
        const delay = tracker.current();
        const startedAt = clock.now();
        if (delay === undefined) {
          const measured = tracker;
          return next.call(req, ctx).then((response) => {
            if (!isFailureResponse(response.statusCode, route)) measured.record(clock.now() - startedAt);
            return response;
          });
        }
        return new Promise<MeshResponse>((resolve, reject) => new HedgedRequest(req, ctx, deps, tracker, startedAt, resolve, reject).start(Math.max(delay, minDelayMs)));
      },
      close: () => next.close(),
    };
  },
};

function isReplayable(req: MeshRequest): boolean {
  const body = req.body;
  return req.upgrade === undefined && isReplayableBody(body);
}

interface Attempt {
  readonly ctx: CallContext;
  readonly signal: LightAbortSignal;
  pending: boolean;
}

type Outcome = { response: MeshResponse; error?: undefined } | { response?: undefined; error: unknown };

/** One request's attempts: the first, and the backup if the first is slow. */
class HedgedRequest {
  readonly #req: MeshRequest;
  readonly #ctx: CallContext;
  readonly #deps: HedgeDeps;
  readonly #tracker: LatencyPercentileTracker;
  readonly #startedAt: number;
  readonly #resolve: (response: MeshResponse) => void;
  readonly #reject: (error: unknown) => void;
  #primary: Attempt | undefined = undefined;
  #backup: Attempt | undefined = undefined;
  #timer: { cancel(): void } | undefined = undefined;
  /** A failure kept while the other attempt may still succeed. */
  #fallback: Outcome | undefined = undefined;
  #done = false;

  constructor(req: MeshRequest, ctx: CallContext, deps: HedgeDeps, tracker: LatencyPercentileTracker, startedAt: number, resolve: (r: MeshResponse) => void, reject: (e: unknown) => void) {
    this.#req = req;
    this.#ctx = ctx;
    this.#deps = deps;
    this.#tracker = tracker;
    this.#startedAt = startedAt;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(delayMs: number): void {
    const parent = this.#ctx.signal;
    if (parent?.aborted) return this.#reject(parent.reason);
    parent?.addEventListener('abort', this.#onParentAbort);
    this.#timer = this.#deps.clock.setTimer(this.#sendBackup, delayMs);
    this.#primary = this.#launch(undefined);
  }

  #launch(avoidEndpoint: string | undefined): Attempt {
    const signal = new LightAbortSignal();
    const attempt: Attempt = { ctx: { ...this.#ctx, signal: signal.asAbortSignal(), avoidEndpoint }, signal, pending: true };
    this.#deps.next.call(this.#req, attempt.ctx).then(
      (response) => this.#settled(attempt, { response }),
      (error: unknown) => this.#settled(attempt, { error }),
    );
    return attempt;
  }

  readonly #sendBackup = (): void => {
    if (this.#done) return;
    const { budget, counters } = this.#deps;
    if (!budget.tryWithdraw()) {
      counters.inc('hedge_budget_exhausted_total');
      return;
    }
    counters.inc('hedges_total');
    this.#backup = this.#launch(this.#primary!.ctx.endpoint);
  };

  #settled(attempt: Attempt, outcome: Outcome): void {
    attempt.pending = false;
    if (this.#done) {
      outcome.response?.discard();
      return;
    }
    const other = attempt === this.#primary ? this.#backup : this.#primary;
    const failed = outcome.response === undefined || isFailureResponse(outcome.response.statusCode, this.#ctx.routePolicy);
    if (failed && other?.pending === true) {
      this.#fallback = outcome;
      return;
    }
    this.#finish(attempt, other, outcome, failed);
  }

  #finish(winner: Attempt, loser: Attempt | undefined, outcome: Outcome, failed: boolean): void {
    this.#done = true;
    this.#timer?.cancel();
    this.#ctx.signal?.removeEventListener('abort', this.#onParentAbort);
    this.#fallback?.response?.discard();
    if (loser?.pending === true) loser.signal.abort(new MeshError('REQUEST_ABORTED', 'hedged request: the other attempt answered first'));
    const ctx = this.#ctx;
    ctx.endpoint = winner.ctx.endpoint;
    ctx.destination = winner.ctx.destination;
    if (winner === this.#backup) this.#deps.counters.inc('hedge_wins_total');
    if (outcome.response === undefined) return this.#reject(outcome.error);
    if (!failed) this.#tracker.record(this.#deps.clock.now() - this.#startedAt);
    this.#resolve(outcome.response);
  }

  readonly #onParentAbort = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#timer?.cancel();
    const reason = this.#ctx.signal!.reason;
    for (const attempt of [this.#primary, this.#backup]) if (attempt?.pending === true) attempt.signal.abort(reason);
    this.#fallback?.response?.discard();
    this.#reject(reason);
  };
}

/**
 * Mirroring (shadow traffic), as Istio's `mirror` with `mirrorPercentage` and Envoy's request
 * mirror policy do it: a copy of a share of the requests goes to another destination, fire and
 * forget. The caller never waits for the copy, and never sees its response, its failure or its
 * latency: the copy's response is discarded as its head arrives, and only counted.
 *
 * - The copy goes straight to the destinations at the bottom of the client (MirrorTargetParam), the
 *   same place a split sends an attempt: no retries, no breaker, no split, so that copies neither
 *   spend the service's retry budget nor trip its breaker nor skew its metrics.
 * - Its Host is the request's (else its authority, else the service name) with `-shadow` appended
 *   before any port, as Envoy does, so the mirror's own logs tell copies from real traffic.
 * - A body is copied only when it can be sent twice: a string or bytes, or a stream that declares a
 *   `content-length` within the retry buffer (`retries.maxBodyBytes`, 64 KiB by default), which is
 *   read into memory before either is sent. A longer stream, or one of unknown length (a gRPC
 *   stream, a chunked upload), goes to the service alone and the skipped copy is counted: buffering
 *   it would hold the real request back, which mirroring must never do.
 * - At most `maxInFlight` copies of one policy at once; one more is dropped and counted, so a slow
 *   mirror cannot pile up sockets and memory in the caller.
 * - Each copy has a deadline of its own: `timeoutMs`, or the time the request itself has left, or
 *   10 s; at it the copy is aborted.
 *
 * A route's `mirror` replaces the service's (`false`: none on that route).
 */
import type { Clock, Random } from '../core/clock.js';
import { ClockParam, CountersParam, RandomParam } from '../core/core-params.js';
import type { Counters } from '../core/counters.js';
import { MeshError } from '../core/errors.js';
import { LightAbortSignal } from '../core/light-abort-signal.js';
import { Param } from '../core/params.js';
import { MIRROR_DEFAULTS, RETRY_DEFAULTS, type MirrorPolicy } from '../core/policy.js';
import { newCallContext, type CallContext } from '../core/service.js';
import { headerValue, withHeader } from '../http/header-shapes.js';
import type { HttpModule, HttpService } from '../http/http-stack.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { MirrorParam, RetryPolicyParam, RoutesParam } from '../policy/policy-params.js';
import { bufferBody, isReplayableBody } from '../policy/replayable-body.js';
import { isFailureResponse } from '../policy/response-classifier.js';

/** Where copies are sent: a service that sends a request to the endpoints of `ctx.destination` (the client's destinations). */
export const MirrorTargetParam = new Param<HttpService | undefined>('mirrorTarget', undefined);

interface Mirror {
  readonly policy: MirrorPolicy;
  readonly percent: number;
  readonly maxInFlight: number;
  inFlight: number;
}

interface MirrorDeps {
  target: HttpService;
  clock: Clock;
  random: Random;
  counters: Counters;
  maxBodyBytes: number;
}

export const mirrorModule: HttpModule = {
  role: 'mirror',
  description: 'sends a copy of a share of the requests to another destination, fire and forget (Istio mirror)',
  params: [MirrorParam, RoutesParam, RetryPolicyParam, MirrorTargetParam, ClockParam, RandomParam, CountersParam],
  make(params, next) {
    const serviceMirror = params.get(MirrorParam);
    const routes = params.get(RoutesParam);
    if (serviceMirror === undefined && !routes.some((r) => r.mirror !== undefined && r.mirror !== false)) return next;
    const target = params.get(MirrorTargetParam);
    if (target === undefined) throw new MeshError('INVALID_OPTIONS', 'mirror: the stack was built without MirrorTargetParam, the service copies are sent to');
    const retries = params.get(RetryPolicyParam);
    const deps: MirrorDeps = {
      target,
      clock: params.get(ClockParam),
      random: params.get(RandomParam),
      counters: params.get(CountersParam),
      maxBodyBytes: (retries === false ? undefined : retries.maxBodyBytes) ?? RETRY_DEFAULTS.maxBodyBytes,
    };
    // One state per policy, so each has its own bound on copies in flight.
    const mirrors = new Map<MirrorPolicy, Mirror>();
    const mirrorFor = (policy: MirrorPolicy, where: string): Mirror => {
      let mirror = mirrors.get(policy);
      if (mirror === undefined) mirrors.set(policy, (mirror = compileMirror(policy, where)));
      return mirror;
    };
    const service = serviceMirror && mirrorFor(serviceMirror, 'mirror');
    routes.forEach((r, i) => r.mirror && mirrorFor(r.mirror, `routes[${i}] ("${r.name}").mirror`));

    return {
      call(req, ctx) {
        const routeMirror = ctx.routePolicy?.mirror;
        const mirror = routeMirror === undefined ? service : routeMirror === false ? undefined : (mirrors.get(routeMirror) ?? mirrorFor(routeMirror, `route "${ctx.route}" mirror`));
        // An upgrade (WebSocket) is a connection, not a request that can be copied.
        if (mirror === undefined || req.upgrade !== undefined || !(deps.random() * 100 < mirror.percent)) return next.call(req, ctx);
        if (mirror.inFlight >= mirror.maxInFlight) {
          deps.counters.inc('mirror_dropped_total');
          return next.call(req, ctx);
        }
        const body = req.body;
        if (isReplayableBody(body)) {
          sendCopy(mirror, req, ctx, deps);
          return next.call(req, ctx);
        }
        const length = Number(headerValue(req.headers, 'content-length'));
        if (!(length <= deps.maxBodyBytes)) {
          deps.counters.inc('mirror_skipped_body_total');
          return next.call(req, ctx);
        }
        return bufferBody(body, deps.maxBodyBytes, ctx.signal).then((prepared) => {
          const sent = { ...req, body: prepared.body };
          if (prepared.kind === 'buffered') sendCopy(mirror, sent, ctx, deps);
          else deps.counters.inc('mirror_skipped_body_total');
          return next.call(sent, ctx);
        });
      },
      close: () => next.close(),
    };
  },
};

function compileMirror(policy: MirrorPolicy, where: string): Mirror {
  const percent = policy.percent ?? MIRROR_DEFAULTS.percent;
  const maxInFlight = policy.maxInFlight ?? MIRROR_DEFAULTS.maxInFlight;
  const invalid = (message: string) => new MeshError('INVALID_OPTIONS', `${where}.${message}`);
  if (typeof policy.service !== 'string' || policy.service === '') throw invalid(`service must name a destination, got ${JSON.stringify(policy.service)}`);
  if (!(percent >= 0 && percent <= 100)) throw invalid(`percent must be from 0 to 100, got ${percent}`);
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw invalid(`maxInFlight must be a whole number >= 1, got ${maxInFlight}`);
  if (policy.timeoutMs !== undefined && !(policy.timeoutMs > 0)) throw invalid(`timeoutMs must be above 0, got ${policy.timeoutMs}`);
  return { policy, percent, maxInFlight, inFlight: 0 };
}

/** Starts the copy and returns at once; nothing about it ever reaches the caller. */
function sendCopy(mirror: Mirror, req: MeshRequest, ctx: CallContext, deps: MirrorDeps): void {
  const { clock, counters } = deps;
  const now = clock.now();
  const timeoutMs = mirror.policy.timeoutMs ?? (ctx.deadline !== undefined ? Math.max(0, ctx.deadline - now) : MIRROR_DEFAULTS.timeoutMs);
  const signal = new LightAbortSignal();
  const copyCtx = newCallContext(ctx.service, signal.asAbortSignal());
  copyCtx.destination = mirror.policy.service;
  copyCtx.route = ctx.route;
  copyCtx.routePolicy = ctx.routePolicy;
  copyCtx.deadline = now + timeoutMs;
  const host = headerValue(req.headers, 'host') ?? req.authority ?? ctx.service;
  const copy: MeshRequest = {
    method: req.method,
    path: req.path,
    headers: withHeader(req.headers ?? {}, 'host', shadowHost(host)),
    body: req.body ?? null,
    ...(req.protocol ? { protocol: req.protocol } : {}),
  };
  mirror.inFlight++;
  counters.inc('mirrors_total');
  const timer = clock.setTimer(() => signal.abort(new MeshError('TIMEOUT', `mirror to "${mirror.policy.service}": no answer within ${Math.round(timeoutMs)} ms`, { service: ctx.service })), timeoutMs);
  const settle = () => {
    timer.cancel();
    mirror.inFlight--;
  };
  let settled: Promise<MeshResponse>;
  try {
    settled = deps.target.call(copy, copyCtx);
  } catch (err) {
    settled = Promise.reject(err);
  }
  settled.then(
    (response) => {
      settle();
      if (isFailureResponse(response.statusCode, copyCtx.routePolicy)) counters.inc('mirror_failures_total');
      response.discard();
    },
    () => {
      settle();
      counters.inc('mirror_failures_total');
    },
  );
}

/** Envoy's rule: `reviews` → `reviews-shadow`, `reviews:9080` → `reviews-shadow:9080`. */
export function shadowHost(host: string): string {
  const port = /:\d*$/.exec(host);
  if (port === null || host.endsWith(']')) return `${host}-shadow`;
  return `${host.slice(0, port.index)}-shadow${port[0]}`;
}

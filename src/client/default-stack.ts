/**
 * The default client stack, top (first to see a request) to bottom: this file is the request path.
 * Below the last module sits the destinations service, which hands the request to the balancer of
 * the chosen destination, which picks an endpoint and its undici Pool.
 *
 * Every module returns its `next` untouched when its policy is off, so an unconfigured layer costs
 * nothing per request. Users edit this list by role (`options.stack`) instead of rebuilding it.
 */
import { Stack } from '../core/stack.js';
import { adaptiveConcurrencyModule } from '../filters/adaptive-concurrency.js';
import { circuitBreakerModule } from '../filters/circuit-breaker.js';
import { concurrencyLimitModule } from '../filters/concurrency-limit.js';
import { faultModule } from '../filters/fault.js';
import { hedgeModule } from '../filters/hedge.js';
import { metricsModule } from '../filters/metrics.js';
import { mirrorModule } from '../filters/mirror.js';
import { attemptSpanModule, requestSpanModule } from '../filters/tracing.js';
import { rateLimitModule } from '../filters/rate-limit.js';
import { retryModule } from '../filters/retry.js';
import { routeModule } from '../filters/route.js';
import { splitModule } from '../filters/split.js';
import { perTryTimeoutModule, totalTimeoutModule } from '../filters/timeout.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';

export type { HttpModule, HttpService, HttpStack } from '../http/http-stack.js';
import type { HttpStack } from '../http/http-stack.js';

export function defaultClientStack(): HttpStack {
  return new Stack<MeshRequest, MeshResponse>([
    // First, so every later layer can read the matched route's timeout, retryability and classes.
    routeModule,
    // One span per request, child of the caller's trace, covering refusals and retries alike.
    requestSpanModule,
    // Golden metrics, labelled with the route; above refusals and retries so a request counts once.
    metricsModule,
    // Local protection before any work: a request over the limits is refused at once, never queued.
    concurrencyLimitModule,
    // Measures everything below (retries included, as Envoy's filter does), so a retry storm or a
    // backend's queue reads as latency and lowers the limit.
    adaptiveConcurrencyModule,
    rateLimitModule,
    // The total timeout covers everything below, retries and backoff included (Linkerd semantics),
    // and fixes the deadline that is propagated downstream.
    totalTimeoutModule,
    // Above retries, so an injected fault is never retried (Envoy/Istio semantics).
    faultModule,
    // Below the fault, so an injected abort is not copied (Envoy's router, which mirrors, never sees
    // it); above retries, so a request is copied once, not once per attempt.
    mirrorModule,
    // Retries wrap the split: a retry may go to another destination, like Linkerd's retries.
    retryModule,
    // Below retries, so a hedged pair's failure is judged like any attempt's; above the split and
    // the breaker, so the backup is balanced and counted like any attempt.
    hedgeModule,
    // Picks the destination (canary, blue/green) for this attempt; the balancers are per destination.
    splitModule,
    // Service level: counts every attempt's outcome; open, it fails fast instead of piling on.
    circuitBreakerModule,
    // Innermost: bounds one attempt and writes the remaining deadline into the outgoing header.
    perTryTimeoutModule,
    // A span per attempt; its context is what the endpoint sees in traceparent / B3.
    attemptSpanModule,
  ]);
}

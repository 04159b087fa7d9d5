/**
 * The steps every gRPC call of a service goes through, first to last: this list is the call path,
 * as src/client/default-stack.ts is the HTTP request path, and it keeps that stack's order for the
 * concerns both have. A step whose policy is off is left out, so it costs a call nothing.
 *
 * The retry step divides the list: the steps above it act once per call, the steps below it once per
 * attempt (the circuit breaker, the per-try timeout), as in the HTTP stack.
 */
import type { Clock, Random } from '../core/clock.js';
import type { ServicePolicy } from '../core/policy.js';
import type { FailureRateBreaker } from '../policy/failure-rate-breaker.js';
import type { RetryBudget } from '../policy/retry-budget.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';
import type { GrpcCallStep } from './grpc-call-step.js';
import { breakerStep } from './steps/breaker-step.js';
import { concurrencyLimitStep } from './steps/concurrency-limit-step.js';
import { deadlineStep } from './steps/deadline-step.js';
import { faultStep } from './steps/fault-step.js';
import { metricsStep } from './steps/metrics-step.js';
import { perTryTimeoutStep } from './steps/per-try-timeout-step.js';
import { rateLimitStep } from './steps/rate-limit-step.js';
import { retryStep } from './steps/retry-step.js';
import { traceStep } from './steps/trace-step.js';

export interface GrpcPolicyEnvironment {
  /** Where golden metrics and stack events go; none with `metrics: false`. */
  metrics?: MeshMetrics | undefined;
  /** The budget retries draw on, asked per call (the service's, shared with its HTTP client). */
  retryBudget: () => RetryBudget | undefined;
  /** The circuit breaker attempts are counted in, asked per attempt (the service's, shared with its HTTP client); none: no breaker step. */
  breaker?: () => FailureRateBreaker | undefined;
  clock?: Clock;
  random?: Random;
}

export function grpcPolicySteps(service: string, policy: ServicePolicy, env: GrpcPolicyEnvironment): GrpcCallStep[] {
  const { metrics, clock, random } = env;
  const onEvent = metrics ? (event: string) => metrics.stackEvent(service, event) : undefined;
  const retries = policy.retries;
  const { maxConcurrency, rateLimit } = policy.limits ?? {};
  const totalMs = policy.timeouts?.totalMs;
  const perTryMs = policy.timeouts?.perTryMs;
  const breaker = policy.circuitBreaker === false ? undefined : env.breaker;
  return [
    // One span per call, child of the caller's, around everything below: faults and retries show in it.
    traceStep(service),
    // Golden metrics by method, above faults and retries: a call counts once, with the status its caller got.
    ...(metrics ? [metricsStep(metrics, service, clock)] : []),
    // Local protection before any work: a call over the limits is refused at once, never queued.
    ...(maxConcurrency !== undefined ? [concurrencyLimitStep(service, maxConcurrency, onEvent)] : []),
    ...(rateLimit !== undefined ? [rateLimitStep(service, rateLimit, { ...(clock ? { clock } : {}), ...(onEvent ? { onEvent } : {}) })] : []),
    // The service's total timeout becomes the call's deadline, fixed once: every wait and attempt below runs within it.
    ...(totalMs !== undefined ? [deadlineStep(totalMs, clock)] : []),
    // Above retries, so an injected fault is never retried (Envoy/Istio semantics).
    ...(policy.faults?.length ? [faultStep(policy.faults, { ...(clock ? { clock } : {}), ...(random ? { random } : {}), ...(onEvent ? { onEvent } : {}) })] : []),
    // Last of the per-call steps: it repeats the attempt on a retryable status, within the budget and the deadline.
    ...(retries === false
      ? []
      : [
          retryStep({
            budget: env.retryBudget,
            ...(retries?.backoff ? { backoff: retries.backoff } : {}),
            ...(retries?.maxAttempts ? { maxAttempts: retries.maxAttempts } : {}),
            ...(retries?.grpcStatusCodes ? { retryableCodes: retries.grpcStatusCodes } : {}),
            ...(clock ? { clock } : {}),
            ...(random ? { random } : {}),
            ...(onEvent ? { onEvent } : {}),
          }),
        ]),
    // Per attempt, below retries: every attempt's outcome counts, and a refusal (CIRCUIT_OPEN) is never retried.
    ...(breaker ? [breakerStep(breaker, { service, ...(clock ? { clock } : {}), ...(onEvent ? { onEvent } : {}) })] : []),
    // Innermost: bounds one attempt, within the call's deadline.
    ...(perTryMs !== undefined ? [perTryTimeoutStep(perTryMs, { ...(clock ? { clock } : {}), ...(onEvent ? { onEvent } : {}) })] : []),
  ];
}

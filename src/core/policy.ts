/**
 * The policy a service runs with, as plain data: what the YAML config (kind: Mesh and Linkerd
 * ServiceProfile documents) and code options both turn into, and what the filters read. Durations
 * are milliseconds here; the config layer parses `250ms` / `2s` / `1m` into them.
 *
 * Per-route settings (timeout, retryability, response classes) travel on the call context once the
 * route filter has matched a route; service-wide settings reach each filter through its module's
 * options when the stack is built.
 */

/** A request condition: Linkerd ServiceProfile `condition` semantics, plus header matches (Istio). */
export interface RequestMatch {
  method?: string;
  /** Anchored: must match the whole path (without the query string), as in Linkerd. */
  pathRegex?: string;
  /** Header name (lower-case) → exact value, or `{ regex }`, or `{ present: boolean }`. */
  headers?: Record<string, string | { exact?: string; regex?: string; prefix?: string; present?: boolean }>;
  all?: RequestMatch[];
  any?: RequestMatch[];
  not?: RequestMatch;
}

/** A response condition: Linkerd `responseClasses[].condition`. */
export interface ResponseMatch {
  status?: { min?: number; max?: number };
  all?: ResponseMatch[];
  any?: ResponseMatch[];
  not?: ResponseMatch;
}

export interface ResponseClass {
  condition: ResponseMatch;
  isFailure: boolean;
}

export interface RoutePolicy {
  name: string;
  condition: RequestMatch;
  /** Linkerd `isRetryable`: failures on this route may be retried. Default false for routes. */
  isRetryable?: boolean;
  /** Total time for a request on this route, retries included. Overrides the service's. */
  timeoutMs?: number;
  /** First match wins; no match: 5xx is a failure, anything else a success (Linkerd's default). */
  responseClasses?: ResponseClass[];
}

export interface RetryBudgetPolicy {
  /** Retries allowed as a fraction of recent requests. Default 0.2 (Linkerd). */
  retryRatio?: number;
  /** Retries always allowed per second regardless of ratio. Default 10 (Linkerd). */
  minRetriesPerSecond?: number;
  /** The window "recent" covers. Default 10 000 ms (Linkerd). */
  ttlMs?: number;
}

export interface BackoffPolicy {
  /** First retry waits up to this long. Default 25 ms. */
  baseMs?: number;
  /** No wait is longer than this. Default 1 000 ms. */
  maxMs?: number;
}

export interface RetryPolicy {
  budget?: RetryBudgetPolicy;
  backoff?: BackoffPolicy;
  /** Bodies up to this size are buffered so the request can be replayed. Default 65 536. */
  maxBodyBytes?: number;
  /** Hard cap on attempts per request or unary gRPC call, first included, whatever the budget says. Default 4. */
  maxAttempts?: number;
  /**
   * Whether a failure of a request that matches no route is retried (a matched route decides by
   * its own `isRetryable`). Default: true for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE,
   * TRACE), false otherwise; `false` is Linkerd's behaviour exactly.
   */
  retryNonRouted?: boolean;
  /** gRPC status codes that are retried, by grpcClient and on the HTTP stack alike. Default [14] (UNAVAILABLE). */
  grpcStatusCodes?: number[];
}

/**
 * What retries run with where the config says nothing, for HTTP (filters/retry.ts) and gRPC
 * (grpc/steps/retry-step.ts) alike. The budget is Linkerd's ServiceProfile default. Four attempts
 * (three retries) keep the backoff's ceilings at 25, 50 and 100 ms, so a whole chain fits well inside
 * a typical deadline; the budget, not this cap, is what bounds the load on a failing service.
 */
export const RETRY_DEFAULTS: {
  readonly budget: Readonly<Required<RetryBudgetPolicy>>;
  readonly backoff: Readonly<Required<BackoffPolicy>>;
  readonly maxAttempts: number;
  readonly maxBodyBytes: number;
  readonly grpcStatusCodes: readonly number[];
} = {
  budget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
  backoff: { baseMs: 25, maxMs: 1_000 },
  maxAttempts: 4,
  maxBodyBytes: 65_536,
  grpcStatusCodes: [14],
};

export interface TimeoutPolicy {
  /** Whole request including retries; also the deadline propagated downstream. */
  totalMs?: number;
  /** One attempt. */
  perTryMs?: number;
}

export interface CircuitBreakerPolicy {
  /** Percent of failures in the rolling window that opens the circuit. Default 50 (Hystrix). */
  errorThresholdPercentage?: number;
  /** Requests in the window before the circuit may open, so one failure does not. Default 20. */
  volumeThreshold?: number;
  /** Time open before a half-open probe. Default 10 000 ms. */
  resetTimeoutMs?: number;
  /** Rolling window length. Default 10 000 ms. */
  rollingWindowMs?: number;
}

export interface FaultPolicy {
  /** Only requests matching this get faults (e.g. header `end-user: jason`). Default: all. */
  match?: RequestMatch;
  delay?: { percent: number; fixedDelayMs: number };
  /** `grpcStatus`: the status gRPC calls are aborted with (default: mapped from httpStatus). */
  abort?: { percent: number; httpStatus: number; grpcStatus?: number };
}

export interface SplitDestination {
  /** Another mesh service, or an authority (`reviews-v2:9080`) resolved by DNS. */
  service: string;
  /** Relative weight; weights need not sum to anything in particular. */
  weight: number;
}

export interface LimitsPolicy {
  /** Most requests in flight for the service; more get CONCURRENCY_LIMITED at once. */
  maxConcurrency?: number;
  /** Token bucket: sustained requests per second and burst size. */
  rateLimit?: { requestsPerSecond: number; burst?: number };
}

export interface ServicePolicy {
  routes?: RoutePolicy[];
  timeouts?: TimeoutPolicy;
  retries?: RetryPolicy | false;
  circuitBreaker?: CircuitBreakerPolicy | false;
  faults?: FaultPolicy[];
  split?: SplitDestination[];
  limits?: LimitsPolicy;
}

/**
 * The defaults of a service's endpoint settings, in one table: the schema fills them in, and the
 * balancer parts that can be built on their own (in tests, or by a library user) fall back to them.
 * EWMA: Finagle's and Linkerd's decay and a 30 ms first guess; outlier ejection: Envoy's; the
 * connection pool: undici's, with 64 connections per endpoint.
 */
export const ENDPOINT_DEFAULTS = {
  balancer: 'p2c-ewma' as const,
  ewma: { decayMs: 10_000, initialRttMs: 30 },
  outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedPercent: 50 },
  connection: { connections: 64, keepAliveTimeoutMs: 4_000, connectTimeoutMs: 10_000, headersTimeoutMs: 300_000, bodyTimeoutMs: 300_000 },
  discoveryTimeoutMs: 5_000,
} as const;

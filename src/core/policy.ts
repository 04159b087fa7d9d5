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

/**
 * A route's retries in Envoy's terms (Istio's `HTTPRetry`). `retryOn` lists Envoy's condition names
 * (`5xx`, `gateway-error`, `reset`, `connect-failure`, `refused-stream`, `retriable-4xx`,
 * `retriable-status-codes`, the gRPC `cancelled`, `deadline-exceeded`, `internal`,
 * `resource-exhausted`, `unavailable`) and HTTP status codes; src/policy/retry-conditions.ts reads them.
 */
export interface RouteRetryPolicy {
  /** Attempts, the first included (Istio's `attempts` + 1); 1 turns retries off on the route. */
  maxAttempts: number;
  retryOn: (string | number)[];
}

export interface RoutePolicy {
  name: string;
  condition: RequestMatch;
  /** Linkerd `isRetryable`: failures on this route may be retried. Default false for routes. */
  isRetryable?: boolean;
  /** Total time for a request on this route, retries included. Overrides the service's. */
  timeoutMs?: number;
  /** One attempt's time on this route. Overrides the service's perTryTimeout. */
  perTryTimeoutMs?: number;
  /**
   * Envoy's retry conditions for this route (Istio `retries`): when present they, not
   * `isRetryable`, decide which failures are retried, whatever the method.
   */
  retry?: RouteRetryPolicy;
  /** Where this route's requests go (Istio `route[].destination`); overrides the service's split. */
  split?: SplitDestination[];
  /** Faults for this route's requests (Istio `fault`); overrides the service's faults. */
  faults?: FaultPolicy[];
  /** First match wins; no match: 5xx is a failure, anything else a success (Linkerd's default). */
  responseClasses?: ResponseClass[];
  /** The request may be sent twice at once with no harm: the service's `hedging` applies to it. Default false. */
  isIdempotent?: boolean;
  /** Mirroring for this route, replacing the service's; `false`: none on this route. */
  mirror?: MirrorPolicy | false;
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
  /** Only the endpoints of that service in this subset (its `subsets`, by label). */
  subset?: string;
  /** Relative weight; weights need not sum to anything in particular. */
  weight: number;
}

/**
 * Shadow traffic (Istio's `mirror` with `mirrorPercentage`, Envoy's request mirror policy): a copy of
 * a share of the requests goes to another destination, fire and forget. The caller never waits for
 * the copy nor sees its outcome.
 */
export interface MirrorPolicy {
  /** Where the copies go: a destination as in `split` (a mesh service, or an authority `host:port` resolved by DNS). */
  service: string;
  /** Share of requests copied, 0 to 100. Default 100 (Istio's, when `mirrorPercentage` is absent). */
  percent?: number;
  /** Copies in flight at once; a copy beyond it is dropped and counted. Default 100. */
  maxInFlight?: number;
  /** How long a copy may take. Default: the request's own deadline, else 10 000 ms. */
  timeoutMs?: number;
}

export const MIRROR_DEFAULTS = { percent: 100, maxInFlight: 100, timeoutMs: 10_000 } as const;

/**
 * Hedged requests (Finagle's backup requests, "The Tail at Scale"): on a route marked
 * `isIdempotent`, when an attempt has not answered by the route's observed latency percentile, a
 * second one is sent, paid from the retry budget; the first response wins and the other is cancelled.
 */
export interface HedgingPolicy {
  /** The observed latency percentile after which the backup goes, above 0 and below 100. Default 95. */
  percentile?: number;
  /** The backup never goes sooner than this after the first attempt. Default 1 ms. */
  minDelayMs?: number;
  /** The latencies the percentile is taken over: those of this recent window. Default 30 000 ms (Finagle's). */
  windowMs?: number;
  /** Latencies observed on a route before it is hedged at all. Default 20. */
  minSamples?: number;
}

export const HEDGING_DEFAULTS = { percentile: 95, minDelayMs: 1, windowMs: 30_000, minSamples: 20 } as const;

/**
 * An adaptive concurrency limit, Netflix concurrency-limits' Gradient2: the limit grows while the
 * measured round-trip time stays near its long-term average and shrinks as it rises above it (a
 * queue is building somewhere). Requests over the limit are refused at once with CONCURRENCY_LIMITED.
 */
export interface AdaptiveConcurrencyPolicy {
  /** The limit at start. Default 20. */
  initialLimit?: number;
  /** The limit never falls below this. Default 20. */
  minLimit?: number;
  /** The limit never rises above this. Default 200. */
  maxLimit?: number;
  /** How far one sample moves the limit towards its new estimate, 0 to 1. Default 0.2. */
  smoothing?: number;
  /** How much longer than the long-term RTT a sample may be before the limit shrinks. Default 1.5. */
  rttTolerance?: number;
  /** Sample windows the long-term RTT average spans (an exponential average): 600 × 100 ms, a minute. Default 600. */
  longWindow?: number;
  /** Headroom added to each new estimate, so the limit can probe upwards. Default 4. */
  queueSize?: number;
  /**
   * The limit moves once per window of this long, on the window's average RTT and its most
   * requests in flight (Netflix's WindowedLimit; Envoy's concurrency_update_interval). Default 100 ms.
   */
  sampleWindowMs?: number;
  /** Finished requests a window needs before it counts; a quieter window runs on. Default 10. */
  minWindowSamples?: number;
}

export const GRADIENT2_DEFAULTS = {
  initialLimit: 20,
  minLimit: 20,
  maxLimit: 200,
  smoothing: 0.2,
  rttTolerance: 1.5,
  longWindow: 600,
  queueSize: 4,
  sampleWindowMs: 100,
  minWindowSamples: 10,
} as const;

export interface LimitsPolicy {
  /** Most requests in flight for the service; more get CONCURRENCY_LIMITED at once. */
  maxConcurrency?: number;
  /** Token bucket: sustained requests per second and burst size. */
  rateLimit?: { requestsPerSecond: number; burst?: number };
  /** A limit on requests in flight that follows the measured latency (Gradient2). */
  adaptive?: AdaptiveConcurrencyPolicy;
}

export interface ServicePolicy {
  routes?: RoutePolicy[];
  timeouts?: TimeoutPolicy;
  retries?: RetryPolicy | false;
  circuitBreaker?: CircuitBreakerPolicy | false;
  faults?: FaultPolicy[];
  split?: SplitDestination[];
  limits?: LimitsPolicy;
  /** Copies of the requests (routes may override it). */
  mirror?: MirrorPolicy;
  /** Backup requests on routes marked `isIdempotent`. */
  hedging?: HedgingPolicy;
}

/**
 * What a consistent-hash balancer hashes a request on (Istio's `consistentHash` keys): a header's
 * value, a cookie's, a query parameter's, or the address the request came from.
 */
export type ConsistentHashKey = { header: string } | { cookie: string } | { sourceAddress: true } | { queryParameter: string };

/**
 * The defaults of a service's endpoint settings, in one table: the schema fills them in, and the
 * balancer parts that can be built on their own (in tests, or by a library user) fall back to them.
 * EWMA: Finagle's and Linkerd's decay and a 30 ms first guess; outlier ejection: Envoy's; the
 * connection pool: undici's, with 64 connections per endpoint.
 */
export const ENDPOINT_DEFAULTS = {
  balancer: 'p2c-ewma' as const,
  // Envoy's ring hash minimum and Maglev table size (a prime, as Maglev needs).
  consistentHash: { minimumRingSize: 1024, tableSize: 65_537 },
  ewma: { decayMs: 10_000, initialRttMs: 30 },
  outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedPercent: 50 },
  connection: { connections: 64, keepAliveTimeoutMs: 4_000, connectTimeoutMs: 10_000, headersTimeoutMs: 300_000, bodyTimeoutMs: 300_000 },
  discoveryTimeoutMs: 5_000,
} as const;

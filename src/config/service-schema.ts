/**
 * The one schema for a service's options. `meshClient(name, options)` and a YAML `kind: Mesh`
 * document's `spec.services.<name>` are both checked against it, so they accept the same fields
 * and fail with the same messages (schema-problems.ts words them; service-settings.ts fills in the
 * defaults). Every object is strict: a misspelt option silently ignored is a production incident
 * waiting to happen, so it is an error, with a did-you-mean when a known field is close.
 */
import { z } from 'zod';
import { GRADIENT2_DEFAULTS, type RequestMatch, type ResponseMatch } from '../core/policy.js';
import { parseByteSize } from './byte-size.js';
import { parseDuration } from '../core/duration.js';
import { parseQuantity } from './quantity.js';
import { isSpiffeId } from '../tls/spiffe-id.js';
import { parseEndpoint } from '../discovery/endpoint-address.js';
import { endpointLabelsProblem, endpointWeightProblem } from '../discovery/endpoint-list.js';
import { discoveryProblem } from '../discovery/parse-discovery.js';
import { retryConditionProblem } from '../policy/retry-conditions.js';

export const durationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (ms === undefined || !Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 250ms, 2s or 1m' });
    return z.NEVER;
  }
  if (ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration above 0' });
    return z.NEVER;
  }
  return ms;
});

const GRPC_STATUS_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
const grpcStatusCode = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const code = typeof value === 'number' ? value : GRPC_STATUS_NAMES.indexOf(value.toUpperCase());
  if (!Number.isInteger(code) || code < 1 || code > 16) {
    ctx.addIssue({ code: 'custom', message: 'expected a gRPC status code from 1 to 16 or its name (e.g. UNAVAILABLE)' });
    return z.NEVER;
  }
  return code;
});

const percent = z.number().min(0, 'expected a percentage from 0 to 100').max(100, 'expected a percentage from 0 to 100');
const count = (min: number) => z.number().int(`expected a whole number`).min(min, `expected a whole number >= ${min}`);

const regex = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    // V8 says "Invalid regular expression: /(/: Unterminated group"; the value is quoted anyway.
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression (${reason})` });
  }
});

const headerMatch = z.union([
  z.string(),
  z.object({ exact: z.string().optional(), regex: regex.optional(), prefix: z.string().optional(), present: z.boolean().optional() }).strict(),
]);

export const requestMatchSchema: z.ZodType<RequestMatch> = z.lazy(() =>
  z
    .object({
      method: z.string().min(1).optional(),
      pathRegex: regex.optional(),
      headers: z.record(headerMatch).optional(),
      all: z.array(requestMatchSchema).optional(),
      any: z.array(requestMatchSchema).optional(),
      not: requestMatchSchema.optional(),
    })
    .strict(),
);

const status = z.number().int().min(100, 'expected an HTTP status from 100 to 599').max(599, 'expected an HTTP status from 100 to 599');
export const responseMatchSchema: z.ZodType<ResponseMatch> = z.lazy(() =>
  z
    .object({
      status: z
        .object({ min: status.optional(), max: status.optional() })
        .strict()
        .refine((s) => s.min === undefined || s.max === undefined || s.min <= s.max, 'status.min must not be above status.max')
        .optional(),
      all: z.array(responseMatchSchema).optional(),
      any: z.array(responseMatchSchema).optional(),
      not: responseMatchSchema.optional(),
    })
    .strict(),
);

const endpointWeight = z.unknown().superRefine((weight, ctx) => {
  const problem = endpointWeightProblem(weight);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const labelsSchema = z.unknown().superRefine((labels, ctx) => {
  const problem = endpointLabelsProblem(labels);
  if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
}) as unknown as z.ZodType<Record<string, string>>;

const endpoint = z.union([
  z.string().superRefine((text, ctx) => {
    try {
      parseEndpoint(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  z
    .object({
      host: z.string().min(1),
      port: count(1).max(65535, 'expected a port from 1 to 65535'),
      // A relative share of the service's traffic, honoured by every balancer.
      weight: (endpointWeight as unknown as z.ZodType<number>).optional(),
      // What subsets select by (version: v2, zone: eu-1).
      labels: labelsSchema.optional(),
      // A meshed endpoint: reached over mTLS, and it must prove this SPIFFE ID.
      identity: z.string().refine(isSpiffeId, 'expected a SPIFFE ID such as spiffe://cluster.local/ns/default/sa/words').optional(),
    })
    .strict(),
]);

/** A split destination's weight, or a ServiceProfile dstOverride's: a number or a quantity. */
export const splitWeightSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const n = parseQuantity(value);
  if (n === undefined || n < 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a weight >= 0 (a number or a quantity such as 900m)' });
    return z.NEVER;
  }
  return n;
});

const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const n = parseByteSize(value);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a size in bytes such as 65536 or 64KiB' });
    return z.NEVER;
  }
  return n;
});

const faultsSchema = z.array(
  z
    .object({
      match: requestMatchSchema.optional(),
      delay: z.object({ percent, fixedDelay: durationSchema }).strict().optional(),
      // grpcStatus: what gRPC calls get instead (a code such as 14 or a name such as UNAVAILABLE).
      abort: z.object({ percent, httpStatus: status, grpcStatus: grpcStatusCode.optional() }).strict().optional(),
    })
    .strict()
    .refine((f) => f.delay !== undefined || f.abort !== undefined, 'a fault needs a delay, an abort, or both'),
);

const SUBSET_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const subsetName = z.string().regex(SUBSET_NAME, 'expected a subset name such as v1 (letters, digits, -, _ and .)');

const splitSchema = z
  .array(z.object({ service: z.string().min(1), subset: subsetName.optional(), weight: splitWeightSchema }).strict())
  .min(1, 'expected at least one destination')
  .refine((ds) => ds.some((d) => d.weight > 0), 'at least one destination needs a weight above 0');

const retryCondition = z.union([z.string(), z.number()]).superRefine((condition, ctx) => {
  const problem = retryConditionProblem(condition);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A copy of the traffic to another destination (Istio's mirror, with mirrorPercentage as percent). */
const mirrorSchema = z
  .object({
    service: z.string().min(1, 'expected the destination copies go to, a service or host:port'),
    percent: percent.optional(),
    maxInFlight: count(1).optional(),
    timeout: durationSchema.optional(),
  })
  .strict();

export const routeSchema = z
  .object({
    name: z.string().min(1),
    condition: requestMatchSchema,
    isRetryable: z.boolean().optional(),
    timeout: durationSchema.optional(),
    perTryTimeout: durationSchema.optional(),
    responseClasses: z.array(z.object({ condition: responseMatchSchema, isFailure: z.boolean().optional() }).strict()).optional(),
    // Envoy's retry conditions for this route; they replace isRetryable's judgement.
    retries: z.object({ maxAttempts: count(1), retryOn: z.array(retryCondition).min(1, 'expected at least one retry condition') }).strict().optional(),
    split: splitSchema.optional(),
    faults: faultsSchema.optional(),
    // Shadow copies of a share of the route's requests, replacing the service's; false: none.
    mirror: z.union([z.literal(false), mirrorSchema]).optional(),
    // The request may be sent twice at once with no harm: the service's hedging applies to it.
    isIdempotent: z.boolean().optional(),
  })
  .strict();

const consistentHashSchema = z
  .object({
    header: z.string().min(1).optional(),
    cookie: z.string().min(1).optional(),
    sourceAddress: z.literal(true).optional(),
    queryParameter: z.string().min(1).optional(),
    minimumRingSize: count(1).max(8 * 1024 * 1024, 'expected at most 8388608 points').optional(),
    tableSize: count(3).optional(),
  })
  .strict()
  .refine((h) => [h.header, h.cookie, h.sourceAddress, h.queryParameter].filter((k) => k !== undefined).length === 1, 'give exactly one hash key: header, cookie, sourceAddress or queryParameter');

const hedgingSchema = z
  .object({
    percentile: z.number().gt(0, 'expected a percentile above 0 and below 100, e.g. 95').lt(100, 'expected a percentile above 0 and below 100, e.g. 95').optional(),
    minDelay: durationSchema.optional(),
    window: durationSchema.optional(),
    minSamples: count(1).optional(),
  })
  .strict();

const adaptiveLimitSchema = z.union([
  z.literal(true),
  z
    .object({
      initialLimit: count(1).optional(),
      minLimit: count(1).optional(),
      maxLimit: count(1).optional(),
      smoothing: z.number().gt(0, 'expected a number above 0 and at most 1, e.g. 0.2').max(1, 'expected a number above 0 and at most 1, e.g. 0.2').optional(),
      rttTolerance: z.number().min(1, 'expected a number >= 1, e.g. 1.5').optional(),
      longWindow: count(1).optional(),
      queueSize: z.number().min(0, 'expected a number >= 0').optional(),
      sampleWindow: durationSchema.optional(),
      minWindowSamples: count(1).optional(),
    })
    .strict()
    .superRefine((a, ctx) => {
      // The bounds are checked with the defaults filled in: `maxLimit: 10` alone is below the default minLimit.
      const min = a.minLimit ?? GRADIENT2_DEFAULTS.minLimit;
      const max = a.maxLimit ?? GRADIENT2_DEFAULTS.maxLimit;
      if (max < min) ctx.addIssue({ code: 'custom', path: [a.maxLimit === undefined ? 'minLimit' : 'maxLimit'], message: `maxLimit (${max}) must not be below minLimit (${min})` });
      else if (a.initialLimit !== undefined && (a.initialLimit < min || a.initialLimit > max)) ctx.addIssue({ code: 'custom', path: ['initialLimit'], message: `expected an initial limit from minLimit to maxLimit (${min}..${max})` });
    }),
]);

export const serviceConfigSchema = z
  .object({
    endpoints: z.array(endpoint).min(1, 'expected at least one endpoint').optional(),
    discovery: z
      .union([z.string().min(1), z.record(z.unknown()), z.array(z.unknown())])
      .superRefine((spec, ctx) => {
        const problem = discoveryProblem(spec);
        if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
      })
      .optional(),
    balancer: z.enum(['p2c-ewma', 'p2c-least-request', 'round-robin', 'random', 'ring-hash', 'maglev']).optional(),
    // The affinity key of the ring-hash and maglev balancers.
    consistentHash: consistentHashSchema.optional(),
    ewma: z.object({ decay: durationSchema.optional(), initialRtt: durationSchema.optional() }).strict().optional(),
    outlierDetection: z
      .union([
        z.literal(false),
        z
          .object({
            consecutiveFailures: count(0).optional(),
            baseEjectionTime: durationSchema.optional(),
            maxEjectionTime: durationSchema.optional(),
            maxEjectedPercent: percent.optional(),
          })
          .strict(),
      ])
      .optional(),
    connection: z
      .object({
        connections: count(1).optional(),
        keepAliveTimeout: durationSchema.optional(),
        connectTimeout: durationSchema.optional(),
        headersTimeout: durationSchema.optional(),
        bodyTimeout: durationSchema.optional(),
        maxRequestsPerConnection: count(1).optional(),
        maxPendingRequests: count(0).optional(),
      })
      .strict()
      .optional(),
    discoveryTimeout: durationSchema.optional(),
    timeout: durationSchema.optional(),
    perTryTimeout: durationSchema.optional(),
    retries: z
      .union([
        z.literal(false),
        z
          .object({
            budget: z
              .object({
                retryRatio: z.number().min(0, 'expected a ratio >= 0, e.g. 0.2').optional(),
                minRetriesPerSecond: count(0).optional(),
                ttl: durationSchema.optional(),
              })
              .strict()
              .optional(),
            backoff: z.object({ base: durationSchema.optional(), max: durationSchema.optional() }).strict().optional(),
            maxBodyBytes: byteSize.optional(),
            maxAttempts: count(1).optional(),
            retryNonRouted: z.boolean().optional(),
            // gRPC statuses retried (Linkerd's retry.linkerd.io/grpc); default UNAVAILABLE.
            grpcStatusCodes: z.array(grpcStatusCode).min(1, 'expected at least one gRPC status').optional(),
          })
          .strict(),
      ])
      .optional(),
    circuitBreaker: z
      .union([
        z.literal(false),
        z
          .object({
            errorThresholdPercentage: percent.optional(),
            volumeThreshold: count(0).optional(),
            resetTimeout: durationSchema.optional(),
            rollingWindow: durationSchema.optional(),
          })
          .strict(),
      ])
      .optional(),
    faults: faultsSchema.optional(),
    routes: z.array(routeSchema).optional(),
    mirror: mirrorSchema.optional(),
    hedging: hedgingSchema.optional(),
    split: splitSchema.optional(),
    // Named label selectors over the endpoints (Istio DestinationRule subsets), for split destinations.
    subsets: z.record(subsetName, z.object({ labels: labelsSchema }).strict()).optional(),
    tls: z
      .object({
        // The SPIFFE ID(s) the endpoints must prove; requests fail rather than go out unverified.
        identity: z.union([z.string(), z.array(z.string()).min(1)]).superRefine((value, ctx) => {
          (Array.isArray(value) ? value : [value]).forEach((id, i) => {
            if (!isSpiffeId(id)) ctx.addIssue({ code: 'custom', path: Array.isArray(value) ? [i] : [], message: 'expected a SPIFFE ID such as spiffe://cluster.local/ns/default/sa/words' });
          });
        }),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        maxConcurrency: count(1).optional(),
        rateLimit: z.object({ requestsPerSecond: z.number().positive('expected a rate above 0'), burst: count(1).optional() }).strict().optional(),
        adaptive: adaptiveLimitSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The options a service accepts, as written in code or YAML. */
export type ServiceConfig = z.input<typeof serviceConfigSchema>;
/** The options after the schema's own transforms (durations in ms), before defaults. */
export type ParsedServiceConfig = z.output<typeof serviceConfigSchema>;

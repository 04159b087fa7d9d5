/**
 * The one schema for a service's options. `meshClient(name, options)` and a YAML `kind: Mesh`
 * document's `spec.services.<name>` are both checked here, so they accept the same fields, produce
 * the same ServiceSettings and fail with the same messages. Every object is strict: a misspelt
 * option silently ignored is a production incident waiting to happen, so it is an error, with a
 * did-you-mean when a known field is close.
 */
import { z } from 'zod';
import { MeshError, type MeshErrorCode } from '../core/errors.js';
import { ENDPOINT_DEFAULTS, type RequestMatch, type ResponseMatch, type ServicePolicy } from '../core/policy.js';
import { parseByteSize } from './byte-size.js';
import { parseDuration } from '../core/duration.js';
import { parseQuantity } from './quantity.js';
import { isSpiffeId } from '../tls/spiffe-id.js';
import { parseEndpoint } from '../discovery/endpoint-address.js';
import { UNSUPPORTED_ENDPOINT_FIELDS } from '../discovery/endpoint-list.js';
import { discoveryProblem } from '../discovery/parse-discovery.js';
import { formatPath } from '../core/field-path.js';
import { quoteValue } from '../core/quote-value.js';

export { formatPath };

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

/** A field that is refused, whatever its value, with the reason as the message. */
const unsupported = (reason: string) => z.never({ errorMap: () => ({ message: reason }) }).optional();

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
      weight: unsupported(UNSUPPORTED_ENDPOINT_FIELDS.weight),
      labels: unsupported(UNSUPPORTED_ENDPOINT_FIELDS.labels),
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

export const routeSchema = z
  .object({
    name: z.string().min(1),
    condition: requestMatchSchema,
    isRetryable: z.boolean().optional(),
    timeout: durationSchema.optional(),
    responseClasses: z.array(z.object({ condition: responseMatchSchema, isFailure: z.boolean().optional() }).strict()).optional(),
  })
  .strict();

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
    balancer: z.enum(['p2c-ewma', 'p2c-least-request', 'round-robin']).optional(),
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
    faults: z
      .array(
        z
          .object({
            match: requestMatchSchema.optional(),
            delay: z.object({ percent, fixedDelay: durationSchema }).strict().optional(),
            // grpcStatus: what gRPC calls get instead (a code such as 14 or a name such as UNAVAILABLE).
            abort: z.object({ percent, httpStatus: status, grpcStatus: grpcStatusCode.optional() }).strict().optional(),
          })
          .strict()
          .refine((f) => f.delay !== undefined || f.abort !== undefined, 'a fault needs a delay, an abort, or both'),
      )
      .optional(),
    routes: z.array(routeSchema).optional(),
    split: z
      .array(z.object({ service: z.string().min(1), weight: splitWeightSchema }).strict())
      .min(1, 'expected at least one destination')
      .refine((ds) => ds.some((d) => d.weight > 0), 'at least one destination needs a weight above 0')
      .optional(),
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
      })
      .strict()
      .optional(),
  })
  .strict();

/** The options a service accepts, as written in code or YAML. */
export type ServiceConfig = z.input<typeof serviceConfigSchema>;
type Parsed = z.output<typeof serviceConfigSchema>;

/** What a service runs with: defaults filled, durations in ms. */
export interface ServiceSettings {
  endpoints?: Parsed['endpoints'];
  discovery?: Parsed['discovery'];
  balancer: 'p2c-ewma' | 'p2c-least-request' | 'round-robin';
  ewma: { decayMs: number; initialRttMs: number };
  outlierDetection: false | { consecutiveFailures: number; baseEjectionMs: number; maxEjectionMs: number; maxEjectedPercent: number };
  connection: { connections: number; keepAliveTimeoutMs: number; connectTimeoutMs: number; headersTimeoutMs: number; bodyTimeoutMs: number };
  discoveryTimeoutMs: number;
  /** mTLS to the endpoints, proving these identities; undefined for plaintext. */
  tls?: { identities: string[] };
  policy: ServicePolicy;
}

export interface SchemaProblem {
  path: (string | number)[];
  message: string;
  /** The path ends at a field name (an unknown field) rather than a value. */
  key?: boolean;
}

/** Validates; returns settings or the list of problems (field path and what was expected). */
export function checkServiceConfig(input: unknown): { settings: ServiceSettings } | { problems: SchemaProblem[] } {
  const parsed = serviceConfigSchema.safeParse(input);
  if (!parsed.success) return { problems: schemaProblems(serviceConfigSchema, parsed.error.issues, input) };
  const c = parsed.data;
  if ((c.endpoints === undefined) === (c.discovery === undefined)) {
    return {
      problems: [
        {
          path: [],
          message:
            c.endpoints === undefined
              ? "no endpoints: give endpoints: ['127.0.0.1:8080'] or discovery: 'file:./eps.json' | 'dns:host:port' | 'dns+srv:_name._tcp.domain'"
              : 'give either "endpoints" or "discovery", not both',
        },
      ],
    };
  }
  return { settings: normalize(c) };
}

/**
 * Turns zod issues into problems people can act on: one per unknown key (located at the key, with a
 * did-you-mean from the fields `schema` allows there), the deepest branch of a union, plain words.
 */
export function schemaProblems(schema: z.ZodTypeAny, issues: z.ZodIssue[], input: unknown): SchemaProblem[] {
  return issues.map(deepestUnionIssue).flatMap((issue): SchemaProblem[] =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: describeIssue(schema, { ...issue, keys: [key] }, input), key: true }))
      : [{ path: issue.path, message: describeIssue(schema, issue, input) }],
  );
}

/**
 * For `false | { ... }` style unions zod reports "invalid union" at the field; when one branch got
 * further into the value (an object with one bad field), that branch's issue is the useful one.
 */
function deepestUnionIssue(issue: z.ZodIssue): z.ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  let best: z.ZodIssue | undefined;
  for (const e of issue.unionErrors) for (const i of e.issues) if (i.path.length > issue.path.length && (!best || i.path.length > best.path.length)) best = i;
  return best ? deepestUnionIssue(best) : issue;
}

/** Validates a service's options and throws one MeshError that lists every problem. */
export function validateServiceConfig(name: string, input: unknown, where: string, code: MeshErrorCode = 'INVALID_OPTIONS'): ServiceSettings {
  const result = checkServiceConfig(input ?? {});
  if ('settings' in result) return result.settings;
  const lines = result.problems.map((p) => `${formatPath(p.key ? p.path.slice(0, -1) : p.path)}: ${p.message}`);
  throw new MeshError(code, `${where}: invalid options:\n  - ${lines.join('\n  - ')}`, { service: name });
}

function normalize(c: Parsed): ServiceSettings {
  const policy: ServicePolicy = {};
  if (c.routes) {
    policy.routes = c.routes.map((r) => ({
      name: r.name,
      condition: r.condition,
      ...(r.isRetryable === undefined ? {} : { isRetryable: r.isRetryable }),
      ...(r.timeout === undefined ? {} : { timeoutMs: r.timeout }),
      ...(r.responseClasses ? { responseClasses: r.responseClasses.map((rc) => ({ condition: rc.condition, isFailure: rc.isFailure ?? false })) } : {}),
    }));
  }
  if (c.timeout !== undefined || c.perTryTimeout !== undefined) {
    policy.timeouts = { ...(c.timeout === undefined ? {} : { totalMs: c.timeout }), ...(c.perTryTimeout === undefined ? {} : { perTryMs: c.perTryTimeout }) };
  }
  if (c.retries !== undefined) {
    const r = c.retries;
    policy.retries =
      r === false
        ? false
        : dropUndefined({
            budget: r.budget && dropUndefined({ retryRatio: r.budget.retryRatio, minRetriesPerSecond: r.budget.minRetriesPerSecond, ttlMs: r.budget.ttl }),
            backoff: r.backoff && dropUndefined({ baseMs: r.backoff.base, maxMs: r.backoff.max }),
            maxBodyBytes: r.maxBodyBytes,
            maxAttempts: r.maxAttempts,
            retryNonRouted: r.retryNonRouted,
            grpcStatusCodes: r.grpcStatusCodes,
          });
  }
  if (c.circuitBreaker !== undefined) {
    const b = c.circuitBreaker;
    policy.circuitBreaker =
      b === false
        ? false
        : dropUndefined({ errorThresholdPercentage: b.errorThresholdPercentage, volumeThreshold: b.volumeThreshold, resetTimeoutMs: b.resetTimeout, rollingWindowMs: b.rollingWindow });
  }
  if (c.faults) {
    policy.faults = c.faults.map((f) =>
      dropUndefined({
        match: f.match,
        delay: f.delay && { percent: f.delay.percent, fixedDelayMs: f.delay.fixedDelay },
        abort: f.abort && { percent: f.abort.percent, httpStatus: f.abort.httpStatus, ...(f.abort.grpcStatus === undefined ? {} : { grpcStatus: f.abort.grpcStatus }) },
      }),
    );
  }
  if (c.split) policy.split = c.split.map((d) => ({ service: d.service, weight: d.weight }));
  if (c.limits) policy.limits = dropUndefined({ maxConcurrency: c.limits.maxConcurrency, rateLimit: c.limits.rateLimit && dropUndefined({ requestsPerSecond: c.limits.rateLimit.requestsPerSecond, burst: c.limits.rateLimit.burst }) });

  const o = c.outlierDetection;
  const conn = c.connection ?? {};
  return {
    ...(c.endpoints ? { endpoints: c.endpoints } : {}),
    ...(c.discovery ? { discovery: c.discovery } : {}),
    ...(c.tls ? { tls: { identities: Array.isArray(c.tls.identity) ? c.tls.identity : [c.tls.identity] } } : {}),
    balancer: c.balancer ?? ENDPOINT_DEFAULTS.balancer,
    ewma: { decayMs: c.ewma?.decay ?? ENDPOINT_DEFAULTS.ewma.decayMs, initialRttMs: c.ewma?.initialRtt ?? ENDPOINT_DEFAULTS.ewma.initialRttMs },
    outlierDetection:
      o === false
        ? false
        : {
            consecutiveFailures: o?.consecutiveFailures ?? ENDPOINT_DEFAULTS.outlierDetection.consecutiveFailures,
            baseEjectionMs: o?.baseEjectionTime ?? ENDPOINT_DEFAULTS.outlierDetection.baseEjectionMs,
            maxEjectionMs: o?.maxEjectionTime ?? ENDPOINT_DEFAULTS.outlierDetection.maxEjectionMs,
            maxEjectedPercent: o?.maxEjectedPercent ?? ENDPOINT_DEFAULTS.outlierDetection.maxEjectedPercent,
          },
    connection: {
      connections: conn.connections ?? ENDPOINT_DEFAULTS.connection.connections,
      keepAliveTimeoutMs: conn.keepAliveTimeout ?? ENDPOINT_DEFAULTS.connection.keepAliveTimeoutMs,
      connectTimeoutMs: conn.connectTimeout ?? ENDPOINT_DEFAULTS.connection.connectTimeoutMs,
      headersTimeoutMs: conn.headersTimeout ?? ENDPOINT_DEFAULTS.connection.headersTimeoutMs,
      bodyTimeoutMs: conn.bodyTimeout ?? ENDPOINT_DEFAULTS.connection.bodyTimeoutMs,
    },
    discoveryTimeoutMs: c.discoveryTimeout ?? ENDPOINT_DEFAULTS.discoveryTimeoutMs,
    policy,
  };
}

function dropUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/**
 * Plain words for a zod issue. Every message names what was expected and quotes what was given (the
 * value at the issue's path in `input`), unless it is an unknown field (the name is what is wrong)
 * or a missing one (nothing was given).
 */
function describeIssue(schema: z.ZodTypeAny, issue: z.ZodIssue, input: unknown): string {
  const value = valueAt(input, issue.path);
  const alreadySaid = (message: string) => value === undefined || message.includes(', got ') || message.startsWith('unknown field ');
  const got = (message: string) => (alreadySaid(message) ? message : `${message}, got ${quoteValue(value)}`);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys
        .map((key) => {
          const suggestion = closest(key, allowedKeysAt(schema, issue.path, input));
          return `unknown field "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
        })
        .join('; ');
    case 'invalid_enum_value':
      return got(`expected one of ${issue.options.map((o) => `'${String(o)}'`).join(' | ')}`);
    case 'invalid_type':
      if (issue.received === 'undefined') return `required (${typeName(issue.expected)})`;
      // A field refused outright (z.never) carries its reason as the message.
      return got(issue.expected === 'never' ? issue.message : `expected ${typeName(issue.expected)}`);
    case 'invalid_literal':
      return got(`expected ${JSON.stringify(issue.expected)}`);
    case 'invalid_union': {
      // Report the branch that got furthest: the one whose first issue has the longest path.
      const best = [...issue.unionErrors].sort((a, b) => (b.issues[0]?.path.length ?? 0) - (a.issues[0]?.path.length ?? 0))[0];
      const first = best?.issues[0];
      if (first && first.path.length > issue.path.length) return `${formatPath(first.path.slice(issue.path.length))}: ${describeIssue(schema, first, input)}`;
      const branches = issue.unionErrors.map((e) => e.issues[0]).filter((i): i is z.ZodIssue => i !== undefined);
      const custom = branches.find((i) => i.code === 'custom');
      if (custom) return got(custom.message);
      // One branch took the value's type and found something else wrong: that is the problem.
      const typed = branches.filter((i) => i.code !== 'invalid_type' && i.code !== 'invalid_literal');
      if (typed.length === 1) return describeIssue(schema, typed[0]!, input);
      if (branches.every((i) => i.code === 'invalid_type' || i.code === 'invalid_literal')) {
        const expected = branches.map((i) => (i.code === 'invalid_type' ? typeName(i.expected) : JSON.stringify(i.code === 'invalid_literal' ? i.expected : undefined)));
        return got(`expected ${[...new Set(expected)].join(' or ')}`);
      }
      return got(`not a valid value (${[...new Set(branches.map((t) => describeIssue(schema, t, input)))].join('; or ')})`);
    }
    case 'too_small':
      if (issue.message.startsWith('expected')) return got(issue.message);
      if (issue.type === 'string') return got(Number(issue.minimum) <= 1 ? 'expected a non-empty string' : `expected at least ${issue.minimum} characters`);
      if (issue.type === 'array') return got(`expected at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`);
      return got(`expected a value ${issue.inclusive ? '>=' : 'above'} ${issue.minimum}`);
    case 'too_big':
      if (issue.message.startsWith('expected')) return got(issue.message);
      if (issue.type === 'string' || issue.type === 'array') return got(`expected at most ${issue.maximum} ${issue.type === 'string' ? 'characters' : 'items'}`);
      return got(`expected a value ${issue.inclusive ? '<=' : 'below'} ${issue.maximum}`);
    default:
      return got(issue.message);
  }
}

const TYPE_NAMES: Record<string, string> = { object: 'an object', array: 'a list', string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false' };

function typeName(zodType: string): string {
  return TYPE_NAMES[zodType] ?? zodType;
}

function valueAt(input: unknown, path: readonly (string | number)[]): unknown {
  let value = input;
  for (const step of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[step];
  }
  return value;
}

/** The field names a strict object accepts at `path`, to suggest the closest one. */
function allowedKeysAt(schema: z.ZodTypeAny, path: readonly (string | number)[], input: unknown): string[] {
  let current: z.ZodTypeAny | undefined = schema;
  let value: unknown = input;
  for (const step of path) {
    current = unwrapTo(current, value);
    if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodTypeAny>)[String(step)];
    else if (current instanceof z.ZodArray) current = current.element;
    else if (current instanceof z.ZodRecord) current = current.valueSchema;
    else return [];
    value = (value as Record<string | number, unknown> | undefined)?.[step];
  }
  current = unwrapTo(current, value);
  return current instanceof z.ZodObject ? Object.keys(current.shape as object) : [];
}

function unwrapTo(schema: z.ZodTypeAny | undefined, value: unknown): z.ZodTypeAny | undefined {
  let s = schema;
  for (let i = 0; i < 10 && s; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else if (s instanceof z.ZodLazy) s = s.schema;
    else if (s instanceof z.ZodUnion) {
      const options = s.options as z.ZodTypeAny[];
      s = options.find((o) => unwrapTo(o, value) instanceof z.ZodObject && typeof value === 'object' && value !== null) ?? options[0];
      s = unwrapTo(s, value);
      break;
    } else break;
  }
  return s;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

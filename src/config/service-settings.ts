/**
 * What a service runs with: its options checked against the schema (service-schema.ts), then
 * normalised, with every default filled in from the tables in core/policy.ts, durations in ms, and
 * the policy in the shape the stack's modules read.
 */
import { MeshError, type MeshErrorCode } from '../core/errors.js';
import { formatPath } from '../core/field-path.js';
import { ENDPOINT_DEFAULTS, type AdaptiveConcurrencyPolicy, type ConsistentHashKey, type FaultPolicy, type MirrorPolicy, type ServicePolicy, type SplitDestination } from '../core/policy.js';
import { isPrime } from '../balancer/maglev-picker.js';
import { schemaProblems, type SchemaProblem } from './schema-problems.js';
import { serviceConfigSchema, type ParsedServiceConfig as Parsed } from './service-schema.js';

export type BalancerKind = 'p2c-ewma' | 'p2c-least-request' | 'round-robin' | 'random' | 'ring-hash' | 'maglev';

/** The affinity key of a consistent-hash balancer, and the size of its ring or table. */
export interface ConsistentHashSettings {
  key: ConsistentHashKey;
  /** Ring points of the heaviest endpoint (ring-hash). */
  minimumRingSize: number;
  /** Lookup table size, a prime (maglev). */
  tableSize: number;
}

/** What a service runs with: defaults filled, durations in ms. */
export interface ServiceSettings {
  endpoints?: Parsed['endpoints'];
  discovery?: Parsed['discovery'];
  balancer: BalancerKind;
  /** Present with the ring-hash and maglev balancers only. */
  consistentHash?: ConsistentHashSettings;
  /** Named label selectors over the endpoints, for split destinations that name a subset. */
  subsets?: Record<string, Record<string, string>>;
  ewma: { decayMs: number; initialRttMs: number };
  outlierDetection: false | { consecutiveFailures: number; baseEjectionMs: number; maxEjectionMs: number; maxEjectedPercent: number };
  connection: {
    connections: number;
    keepAliveTimeoutMs: number;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    /** Requests one connection carries before it is closed and replaced; unbounded when absent. */
    maxRequestsPerConnection?: number;
    /** Requests one endpoint holds waiting for a free connection; more are refused at once. Unbounded when absent. */
    maxPendingRequests?: number;
  };
  discoveryTimeoutMs: number;
  /** mTLS to the endpoints, proving these identities; undefined for plaintext. */
  tls?: { identities: string[] };
  policy: ServicePolicy;
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
  const problems = crossFieldProblems(c);
  if (problems.length > 0) return { problems };
  return { settings: normalize(c) };
}

/** What one field cannot say about another: the balancer and its hash key, the split and the subsets. */
function crossFieldProblems(c: Parsed): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const hashed = c.balancer === 'ring-hash' || c.balancer === 'maglev';
  if (hashed && c.consistentHash === undefined) problems.push({ path: ['consistentHash'], message: `balancer ${c.balancer} hashes each request on a key: give consistentHash: { header | cookie | sourceAddress | queryParameter }` });
  if (!hashed && c.consistentHash !== undefined) problems.push({ path: ['consistentHash'], message: `consistentHash needs balancer: ring-hash or maglev (the balancer is ${c.balancer ?? ENDPOINT_DEFAULTS.balancer})` });
  if (c.consistentHash?.minimumRingSize !== undefined && c.balancer !== 'ring-hash') problems.push({ path: ['consistentHash', 'minimumRingSize'], message: 'minimumRingSize is for balancer: ring-hash' });
  if (c.consistentHash?.tableSize !== undefined) {
    if (c.balancer !== 'maglev') problems.push({ path: ['consistentHash', 'tableSize'], message: 'tableSize is for balancer: maglev' });
    else if (!isPrime(c.consistentHash.tableSize)) problems.push({ path: ['consistentHash', 'tableSize'], message: `a Maglev table size must be a prime, such as 65537, got ${c.consistentHash.tableSize}` });
  }
  return problems;
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
      ...(r.perTryTimeout === undefined ? {} : { perTryTimeoutMs: r.perTryTimeout }),
      ...(r.responseClasses ? { responseClasses: r.responseClasses.map((rc) => ({ condition: rc.condition, isFailure: rc.isFailure ?? false })) } : {}),
      ...(r.retries ? { retry: { maxAttempts: r.retries.maxAttempts, retryOn: r.retries.retryOn } } : {}),
      ...(r.split ? { split: r.split.map(splitDestination) } : {}),
      ...(r.faults ? { faults: r.faults.map(faultPolicy) } : {}),
      ...(r.isIdempotent === undefined ? {} : { isIdempotent: r.isIdempotent }),
      ...(r.mirror === undefined ? {} : { mirror: r.mirror === false ? false : mirrorPolicy(r.mirror) }),
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
  if (c.faults) policy.faults = c.faults.map(faultPolicy);
  if (c.split) policy.split = c.split.map(splitDestination);
  if (c.limits) {
    const l = c.limits;
    policy.limits = dropUndefined({
      maxConcurrency: l.maxConcurrency,
      rateLimit: l.rateLimit && dropUndefined({ requestsPerSecond: l.rateLimit.requestsPerSecond, burst: l.rateLimit.burst }),
      adaptive: l.adaptive === true ? {} : l.adaptive && adaptivePolicy(l.adaptive),
    });
  }
  if (c.mirror) policy.mirror = mirrorPolicy(c.mirror);
  if (c.hedging) {
    const h = c.hedging;
    policy.hedging = dropUndefined({ percentile: h.percentile, minDelayMs: h.minDelay, windowMs: h.window, minSamples: h.minSamples });
  }

  const o = c.outlierDetection;
  const conn = c.connection ?? {};
  return {
    ...(c.endpoints ? { endpoints: c.endpoints } : {}),
    ...(c.discovery ? { discovery: c.discovery } : {}),
    ...(c.tls ? { tls: { identities: Array.isArray(c.tls.identity) ? c.tls.identity : [c.tls.identity] } } : {}),
    balancer: c.balancer ?? ENDPOINT_DEFAULTS.balancer,
    ...(c.consistentHash ? { consistentHash: consistentHashSettings(c.consistentHash) } : {}),
    ...(c.subsets ? { subsets: Object.fromEntries(Object.entries(c.subsets).map(([name, subset]) => [name, { ...subset.labels }])) } : {}),
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
      ...(conn.maxRequestsPerConnection === undefined ? {} : { maxRequestsPerConnection: conn.maxRequestsPerConnection }),
      ...(conn.maxPendingRequests === undefined ? {} : { maxPendingRequests: conn.maxPendingRequests }),
    },
    discoveryTimeoutMs: c.discoveryTimeout ?? ENDPOINT_DEFAULTS.discoveryTimeoutMs,
    policy,
  };
}

function mirrorPolicy(m: NonNullable<Parsed['mirror']>): MirrorPolicy {
  return dropUndefined({ service: m.service, percent: m.percent, maxInFlight: m.maxInFlight, timeoutMs: m.timeout });
}

function adaptivePolicy({ sampleWindow, ...limit }: Exclude<NonNullable<NonNullable<Parsed['limits']>['adaptive']>, true>): AdaptiveConcurrencyPolicy {
  return dropUndefined({ ...limit, sampleWindowMs: sampleWindow });
}

function splitDestination(d: NonNullable<Parsed['split']>[number]): SplitDestination {
  return { service: d.service, ...(d.subset === undefined ? {} : { subset: d.subset }), weight: d.weight };
}

function faultPolicy(f: NonNullable<Parsed['faults']>[number]): FaultPolicy {
  return dropUndefined({
    match: f.match,
    delay: f.delay && { percent: f.delay.percent, fixedDelayMs: f.delay.fixedDelay },
    abort: f.abort && { percent: f.abort.percent, httpStatus: f.abort.httpStatus, ...(f.abort.grpcStatus === undefined ? {} : { grpcStatus: f.abort.grpcStatus }) },
  });
}

function consistentHashSettings(h: NonNullable<Parsed['consistentHash']>): ConsistentHashSettings {
  const key: ConsistentHashSettings['key'] =
    h.header !== undefined ? { header: h.header.toLowerCase() } : h.cookie !== undefined ? { cookie: h.cookie } : h.queryParameter !== undefined ? { queryParameter: h.queryParameter } : { sourceAddress: true };
  return {
    key,
    minimumRingSize: h.minimumRingSize ?? ENDPOINT_DEFAULTS.consistentHash.minimumRingSize,
    tableSize: h.tableSize ?? ENDPOINT_DEFAULTS.consistentHash.tableSize,
  };
}

function dropUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

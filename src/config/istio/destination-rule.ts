/**
 * Istio DestinationRules (networking.istio.io v1, v1beta1, v1alpha3) load as they are, onto the mesh
 * service their `host` names (exactly, or by its first DNS label):
 *
 * - `trafficPolicy.loadBalancer`: `simple` ROUND_ROBIN, LEAST_REQUEST (P2C over pending requests, as
 *   Envoy's least-request is), RANDOM; `consistentHash` on `httpHeaderName`, `httpCookie` (an existing
 *   cookie), `useSourceIp` or `httpQueryParameterName`, with `ringHash.minimumRingSize` (or the older
 *   `minimumRingSize`) or `maglev.tableSize`.
 * - `connectionPool`: `tcp.maxConnections` and `tcp.connectTimeout` per endpoint,
 *   `http.http1MaxPendingRequests`, `http.maxRequestsPerConnection`, `http.idleTimeout`, and
 *   `http.http2MaxRequests` as the service's limit on requests in flight (Envoy's max_requests).
 * - `outlierDetection`: `consecutive5xxErrors`, `baseEjectionTime`, `maxEjectionPercent`, and
 *   `interval`, which is validated and has nothing left to set: Envoy sweeps ejected hosts every
 *   interval to readmit them, while meshwork checks an ejected endpoint's time on every pick.
 * - `subsets`: named label selectors over the endpoints, for the routes' `destination.subset`.
 *
 * A field meshwork cannot honour is refused with its reason, never ignored.
 */
import { z } from 'zod';
import { durationSchema } from '../service-schema.js';
import { exportTo, istioApiVersion, istioMetadata, unsupported } from './istio-fields.js';

const count = (min: number) => z.number().int('expected a whole number').min(min, `expected a whole number >= ${min}`);

const consistentHash = z
  .object({
    httpHeaderName: z.string().min(1).optional(),
    httpCookie: z
      .object({
        name: z.string().min(1),
        path: unsupported('cookie paths (the cookie is read, never set)'),
        ttl: unsupported('generated cookies (the cookie is read from the request, never set; give no ttl)'),
        attributes: unsupported('cookie attributes (the cookie is read, never set)'),
      })
      .strict()
      .optional(),
    useSourceIp: z.literal(true, { errorMap: () => ({ message: 'expected true (leave the field out otherwise)' }) }).optional(),
    httpQueryParameterName: z.string().min(1).optional(),
    ringHash: z.object({ minimumRingSize: count(1).optional() }).strict().optional(),
    maglev: z.object({ tableSize: count(3).optional() }).strict().optional(),
    minimumRingSize: count(1).optional(),
    useSourceIpAddress: unsupported('useSourceIpAddress (write useSourceIp)'),
  })
  .strict()
  .refine((h) => [h.httpHeaderName, h.httpCookie, h.useSourceIp, h.httpQueryParameterName].filter((k) => k !== undefined).length === 1, 'give exactly one hash key: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName')
  .refine((h) => h.maglev === undefined || (h.ringHash === undefined && h.minimumRingSize === undefined), 'give either maglev or ringHash (minimumRingSize), not both');

const loadBalancer = z
  .object({
    simple: z.enum(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'LEAST_CONN', 'UNSPECIFIED', 'PASSTHROUGH'], { errorMap: () => ({ message: 'expected one of ROUND_ROBIN, LEAST_REQUEST, RANDOM' }) }).optional(),
    consistentHash: consistentHash.optional(),
    localityLbSetting: unsupported('locality load balancing (endpoints carry no locality)'),
    warmupDurationSecs: unsupported('slow start (warmup)'),
    warmup: unsupported('slow start (warmup)'),
  })
  .strict()
  .refine((lb) => lb.simple === undefined || lb.consistentHash === undefined, 'give either simple or consistentHash, not both')
  .superRefine((lb, ctx) => {
    if (lb.simple === 'PASSTHROUGH') ctx.addIssue({ code: 'custom', path: ['simple'], message: 'not supported by meshwork: PASSTHROUGH (a request goes to an endpoint discovery lists); remove it' });
  });

const connectionPool = z
  .object({
    tcp: z
      .object({
        maxConnections: count(1).optional(),
        connectTimeout: durationSchema.optional(),
        tcpKeepalive: unsupported('TCP keepalive settings'),
        maxConnectionDuration: unsupported('a maximum connection duration (maxRequestsPerConnection bounds a connection instead)'),
        idleTimeout: unsupported('a TCP idle timeout (http.idleTimeout is taken)'),
      })
      .strict()
      .optional(),
    http: z
      .object({
        http1MaxPendingRequests: count(0).optional(),
        http2MaxRequests: count(1).optional(),
        maxRequestsPerConnection: count(0).optional(),
        idleTimeout: durationSchema.optional(),
        maxRetries: unsupported('a cap on concurrent retries (retries are bounded by the service\'s retry budget)'),
        h2UpgradePolicy: unsupported('HTTP/2 upgrades (HTTP/2 is used for gRPC only)'),
        useClientProtocol: unsupported('useClientProtocol'),
        maxConcurrentStreams: unsupported('a cap on HTTP/2 streams per connection'),
      })
      .strict()
      .optional(),
  })
  .strict();

const outlierDetection = z
  .object({
    consecutive5xxErrors: count(0).optional(),
    interval: durationSchema.optional(),
    baseEjectionTime: durationSchema.optional(),
    maxEjectionPercent: z.number().min(0, 'expected a percentage from 0 to 100').max(100, 'expected a percentage from 0 to 100').optional(),
    consecutiveErrors: unsupported('consecutiveErrors, deprecated by Istio (write consecutive5xxErrors)'),
    consecutiveGatewayErrors: unsupported('counting gateway errors apart (consecutive5xxErrors counts every failure)'),
    consecutiveLocalOriginFailures: unsupported('counting local-origin failures apart'),
    splitExternalLocalOriginErrors: unsupported('counting local-origin failures apart'),
    minHealthPercent: unsupported('minHealthPercent (meshwork uses every endpoint when all are ejected)'),
  })
  .strict();

const trafficPolicy = z
  .object({
    loadBalancer: loadBalancer.optional(),
    connectionPool: connectionPool.optional(),
    outlierDetection: outlierDetection.optional(),
    tls: unsupported('TLS settings here (give the service tls: { identity } in the Mesh document)'),
    portLevelSettings: unsupported('port-level settings (a mesh service has one port)'),
    tunnel: unsupported('tunnels'),
    proxyProtocol: unsupported('the PROXY protocol'),
    retryBudget: unsupported('retryBudget here (give the service retries.budget in the Mesh document)'),
  })
  .strict();

const LABEL_NAME = /^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

const subset = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/, 'expected a subset name such as v1 (letters, digits, -, _ and .)'),
    labels: z.record(z.string().regex(LABEL_NAME, 'expected a label name such as version'), z.string()).refine((labels) => Object.keys(labels).length > 0, 'expected at least one label'),
    trafficPolicy: unsupported('a subset\'s own trafficPolicy (the service\'s applies to every subset)'),
  })
  .strict();

export const destinationRuleSchema = z
  .object({
    apiVersion: istioApiVersion,
    kind: z.literal('DestinationRule'),
    metadata: istioMetadata,
    spec: z
      .object({
        host: z.string().min(1),
        trafficPolicy: trafficPolicy.optional(),
        subsets: z
          .array(subset)
          .superRefine((subsets, ctx) => {
            const seen = new Set<string>();
            subsets.forEach((s, i) => {
              if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `subset "${s.name}" is defined twice` });
              seen.add(s.name);
            });
          })
          .optional(),
        exportTo,
        workloadSelector: unsupported('workload selectors (the rule applies to the service its host names)'),
      })
      .strict(),
  })
  .passthrough();

export type DestinationRule = z.output<typeof destinationRuleSchema>;

const ISTIO_MAX_EJECTION_PERCENT = 10;

const BALANCER_FOR_SIMPLE = { ROUND_ROBIN: 'round-robin', LEAST_REQUEST: 'p2c-least-request', LEAST_CONN: 'p2c-least-request', RANDOM: 'random' } as const;

/**
 * The service options a DestinationRule sets, in their input form (durations in ms). What it sets
 * replaces the Mesh document's, field by field within `connection` and `outlierDetection`.
 */
export function destinationRuleOptions(rule: DestinationRule, input: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const policy = rule.spec.trafficPolicy;
  const lb = policy?.loadBalancer;
  if (lb?.simple !== undefined && lb.simple !== 'UNSPECIFIED' && lb.simple !== 'PASSTHROUGH') out.balancer = BALANCER_FOR_SIMPLE[lb.simple];
  if (lb?.consistentHash) {
    const h = lb.consistentHash;
    out.balancer = h.maglev ? 'maglev' : 'ring-hash';
    const ringSize = h.ringHash?.minimumRingSize ?? h.minimumRingSize;
    out.consistentHash = {
      ...(h.httpHeaderName !== undefined ? { header: h.httpHeaderName } : {}),
      ...(h.httpCookie !== undefined ? { cookie: h.httpCookie.name } : {}),
      ...(h.useSourceIp ? { sourceAddress: true } : {}),
      ...(h.httpQueryParameterName !== undefined ? { queryParameter: h.httpQueryParameterName } : {}),
      ...(ringSize === undefined ? {} : { minimumRingSize: ringSize }),
      ...(h.maglev?.tableSize === undefined ? {} : { tableSize: h.maglev.tableSize }),
    };
  }
  const pool = policy?.connectionPool;
  if (pool) {
    const connection = {
      ...asRecord(input.connection),
      ...(pool.tcp?.maxConnections === undefined ? {} : { connections: pool.tcp.maxConnections }),
      ...(pool.tcp?.connectTimeout === undefined ? {} : { connectTimeout: pool.tcp.connectTimeout }),
      ...(pool.http?.idleTimeout === undefined ? {} : { keepAliveTimeout: pool.http.idleTimeout }),
      // 0 is Istio's "unlimited".
      ...(pool.http?.maxRequestsPerConnection ? { maxRequestsPerConnection: pool.http.maxRequestsPerConnection } : {}),
      ...(pool.http?.http1MaxPendingRequests === undefined ? {} : { maxPendingRequests: pool.http.http1MaxPendingRequests }),
    };
    if (Object.keys(connection).length > 0) out.connection = connection;
    if (pool.http?.http2MaxRequests !== undefined) out.limits = { ...asRecord(input.limits), maxConcurrency: pool.http.http2MaxRequests };
  }
  const od = policy?.outlierDetection;
  // Istio's 0 turns ejection off; its default share of ejected hosts is 10%, not meshwork's 50%.
  if (od?.consecutive5xxErrors === 0) out.outlierDetection = false;
  else if (od) {
    out.outlierDetection = {
      ...asRecord(input.outlierDetection),
      ...(od.consecutive5xxErrors === undefined ? {} : { consecutiveFailures: od.consecutive5xxErrors }),
      ...(od.baseEjectionTime === undefined ? {} : { baseEjectionTime: od.baseEjectionTime }),
      maxEjectedPercent: od.maxEjectionPercent ?? ISTIO_MAX_EJECTION_PERCENT,
    };
  }
  if (rule.spec.subsets) out.subsets = Object.fromEntries(rule.spec.subsets.map((s) => [s.name, { labels: s.labels }]));
  return out;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/**
 * Istio VirtualServices (networking.istio.io v1, v1beta1, v1alpha3) load as they are, onto the mesh
 * service each host names (exactly, or by its first DNS label, as ServiceProfiles do):
 *
 * - `http[]` becomes the service's routes, in order, so the first match wins; a route's `match[]`
 *   entries are alternatives (any), each the conjunction of its `uri` (exact, prefix, regex: a full
 *   match of the path without the query, as Envoy does), `method`, `headers` and `withoutHeaders`.
 *   A route without `match` takes every request.
 * - `route[].destination` (`host`, `subset`, `weight`) becomes the route's split; `timeout` its total
 *   timeout; `retries` (`attempts` + 1 attempts, `perTryTimeout`, `retryOn`) its retries, paid from
 *   the service's retry budget, and without `retries` Istio's default (2 retries on
 *   connect-failure, refused-stream, unavailable, cancelled and 503); `fault.delay` / `fault.abort`
 *   with `percentage` (or the older `percent`; neither: no request) its faults; `mirror` with
 *   `mirrorPercentage` (absent: every request) its mirror.
 *
 * A field meshwork cannot honour is refused with its reason (unsupported()), never ignored.
 */
import { z } from 'zod';
import { durationSchema } from '../service-schema.js';
import type { RequestMatch } from '../../core/policy.js';
import { retryConditionProblem } from '../../policy/retry-conditions.js';
import { exportTo, istioApiVersion, istioMetadata, legacyPercent, percentage, unsupported } from './istio-fields.js';

const stringMatch = z
  .object({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
  .strict()
  .refine((m) => [m.exact, m.prefix, m.regex].filter((v) => v !== undefined).length <= 1, 'give one of exact, prefix or regex');

const requiredStringMatch = stringMatch.refine((m) => m.exact !== undefined || m.prefix !== undefined || m.regex !== undefined, 'give one of exact, prefix or regex');

const regexProblem = (source: string): string | undefined => {
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return `not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')})`;
  }
};

const checkedMatch = (schema: typeof stringMatch | typeof requiredStringMatch) =>
  schema.superRefine((m, ctx) => {
    const problem = m.regex === undefined ? undefined : regexProblem(m.regex);
    if (problem) ctx.addIssue({ code: 'custom', path: ['regex'], message: problem });
  });

const httpMatch = z
  .object({
    name: z.string().optional(),
    uri: checkedMatch(requiredStringMatch).optional(),
    method: z
      .object({ exact: z.string().min(1), prefix: unsupported('a method prefix (match the method exactly)'), regex: unsupported('a method regex (match the method exactly)') })
      .strict()
      .optional(),
    headers: z.record(checkedMatch(stringMatch)).optional(),
    withoutHeaders: z.record(checkedMatch(stringMatch)).optional(),
    ignoreUriCase: unsupported('case-insensitive URI matching'),
    scheme: unsupported('matching on the scheme'),
    authority: unsupported('matching on the authority (a VirtualService applies to the services its hosts name)'),
    port: unsupported('matching on the port'),
    sourceLabels: unsupported('matching on the caller\'s labels'),
    sourceNamespace: unsupported('matching on the caller\'s namespace'),
    gateways: unsupported('gateways'),
    queryParams: unsupported('matching on query parameters'),
    statPrefix: unsupported('stat prefixes (routes are named in the metrics\' route label)'),
  })
  .strict();

const destination = z
  .object({
    host: z.string().min(1),
    subset: z.string().min(1).optional(),
    // The port is the endpoints' for a mesh service; for a host outside the mesh it is the one dialled.
    port: z.object({ number: z.number().int().min(1).max(65535, 'expected a port from 1 to 65535') }).strict().optional(),
  })
  .strict();

// MirrorPolicy names a whole service: a copy cannot be kept to some of its endpoints.
const mirrorDestination = destination.extend({ subset: unsupported('mirroring to a subset (mirror to the whole host)') }).strict();

const retryOn = z.string().superRefine((text, ctx) => {
  for (const condition of text.split(',').map((c) => c.trim()).filter(Boolean)) {
    const problem = retryConditionProblem(condition);
    if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (in "${condition}")` });
  }
});

const httpRoute = z
  .object({
    name: z.string().min(1).optional(),
    match: z.array(httpMatch).optional(),
    route: z
      .array(
        z
          .object({
            destination,
            weight: z.number().int('expected a whole number').min(0, 'expected a weight from 0 to 100').max(100, 'expected a weight from 0 to 100').optional(),
            headers: unsupported('header manipulation'),
          })
          .strict(),
      )
      .min(1, 'expected at least one destination'),
    timeout: durationSchema.or(z.literal('0s')).optional(),
    retries: z
      .object({
        attempts: z.number().int('expected a whole number').min(0, 'expected a whole number >= 0').optional(),
        perTryTimeout: durationSchema.optional(),
        retryOn: retryOn.optional(),
        retryRemoteLocalities: z.literal(false, { errorMap: () => ({ message: 'not supported by meshwork: localities (only false is taken)' }) }).optional(),
      })
      .strict()
      .optional(),
    fault: z
      .object({
        delay: z
          .object({ fixedDelay: durationSchema, percentage: percentage.optional(), percent: legacyPercent.optional(), exponentialDelay: unsupported('exponential delays (give fixedDelay)') })
          .strict()
          .optional(),
        abort: z
          .object({
            httpStatus: z.number().int().min(200, 'expected an HTTP status from 200 to 599').max(599, 'expected an HTTP status from 200 to 599').optional(),
            grpcStatus: z.string().min(1).optional(),
            http2Error: unsupported('HTTP/2 errors as aborts (give httpStatus or grpcStatus)'),
            percentage: percentage.optional(),
            percent: legacyPercent.optional(),
          })
          .strict()
          .refine((a) => a.httpStatus !== undefined || a.grpcStatus !== undefined, 'an abort needs httpStatus or grpcStatus')
          .optional(),
      })
      .strict()
      .refine((f) => f.delay !== undefined || f.abort !== undefined, 'a fault needs a delay, an abort, or both')
      .optional(),
    mirror: mirrorDestination.optional(),
    mirrorPercentage: percentage.optional(),
    mirrorPercent: legacyPercent.optional(),
    mirror_percent: unsupported('mirror_percent (write mirrorPercentage)'),
    mirrors: unsupported('several mirrors (give one mirror with mirrorPercentage)'),
    redirect: unsupported('redirects'),
    directResponse: unsupported('direct responses'),
    delegate: unsupported('delegation'),
    rewrite: unsupported('URI and authority rewriting'),
    corsPolicy: unsupported('CORS policies'),
    headers: unsupported('header manipulation'),
  })
  .strict();

export const virtualServiceSchema = z
  .object({
    apiVersion: istioApiVersion,
    kind: z.literal('VirtualService'),
    metadata: istioMetadata,
    spec: z
      .object({
        hosts: z.array(z.string().min(1)).min(1, 'expected at least one host'),
        // "mesh" (the sidecars) or gateways by name: `<name>` in the document's namespace or `<namespace>/<name>`.
        gateways: z.array(z.string().min(1)).optional(),
        http: z.array(httpRoute).min(1, 'expected at least one http route'),
        tls: unsupported('TLS routes'),
        tcp: unsupported('TCP routes'),
        exportTo,
      })
      .strict(),
  })
  .passthrough();

export type VirtualService = z.output<typeof virtualServiceSchema>;
type HttpRoute = VirtualService['spec']['http'][number];
type HttpMatch = NonNullable<HttpRoute['match']>[number];
type StringMatch = z.output<typeof stringMatch>;

/** Istio's retries when a route says nothing: 2 retries on these conditions, 503 included. */
export const ISTIO_DEFAULT_RETRY_ON = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes', 503] as const;
const ISTIO_DEFAULT_ATTEMPTS = 2;

/** A destination host as the split names it: a mesh service by its name, anything else as `host:port`. */
export type DestinationNamer = (host: string, port: number | undefined) => string;

/** The routes a VirtualService gives the services it names, in the service options' input form (durations in ms). */
export function virtualServiceRoutes(vs: VirtualService, nameDestination: DestinationNamer): Record<string, unknown>[] {
  return vs.spec.http.map((route, i) => {
    const input: Record<string, unknown> = {
      name: route.name ?? `${vs.metadata.name}-${i}`,
      condition: routeCondition(route.match),
      split: route.route.map((d) => ({
        service: nameDestination(d.destination.host, d.destination.port?.number),
        ...(d.destination.subset === undefined ? {} : { subset: d.destination.subset }),
        // A lone destination takes everything; among several, one without a weight takes nothing.
        weight: d.weight ?? (route.route.length === 1 ? 100 : 0),
      })),
      retries: routeRetries(route.retries),
    };
    if (typeof route.timeout === 'number') input.timeout = route.timeout;
    if (route.retries?.perTryTimeout !== undefined) input.perTryTimeout = route.retries.perTryTimeout;
    if (route.fault) input.faults = [routeFault(route.fault)];
    if (route.mirror) {
      const percent = route.mirrorPercentage?.value ?? route.mirrorPercent;
      input.mirror = { service: nameDestination(route.mirror.host, route.mirror.port?.number), ...(percent === undefined ? {} : { percent }) };
    }
    return input;
  });
}

function routeRetries(retries: HttpRoute['retries']): { maxAttempts: number; retryOn: (string | number)[] } {
  const retryOn = retries?.retryOn?.split(',').map((c) => c.trim()).filter(Boolean);
  return {
    maxAttempts: (retries?.attempts ?? ISTIO_DEFAULT_ATTEMPTS) + 1,
    retryOn: retryOn?.length ? retryOn : [...ISTIO_DEFAULT_RETRY_ON],
  };
}

function routeFault(fault: NonNullable<HttpRoute['fault']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const { delay, abort } = fault;
  if (delay) out.delay = { percent: delay.percentage?.value ?? delay.percent ?? 0, fixedDelay: delay.fixedDelay };
  if (abort) {
    const httpStatus = abort.httpStatus ?? httpStatusForGrpc(abort.grpcStatus!);
    out.abort = { percent: abort.percentage?.value ?? abort.percent ?? 0, httpStatus, ...(abort.grpcStatus === undefined ? {} : { grpcStatus: abort.grpcStatus }) };
  }
  return out;
}

/** Envoy's mapping of a gRPC status to the HTTP status an HTTP caller sees (grpcToHttpStatus). */
const HTTP_FOR_GRPC: Record<string, number> = {
  CANCELLED: 499, UNKNOWN: 500, INVALID_ARGUMENT: 400, DEADLINE_EXCEEDED: 504, NOT_FOUND: 404, ALREADY_EXISTS: 409, PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429, FAILED_PRECONDITION: 400, ABORTED: 409, OUT_OF_RANGE: 400, UNIMPLEMENTED: 501, INTERNAL: 500, UNAVAILABLE: 503,
  DATA_LOSS: 500, UNAUTHENTICATED: 401,
};

function httpStatusForGrpc(status: string): number {
  return HTTP_FOR_GRPC[status.toUpperCase()] ?? 500;
}

function routeCondition(matches: HttpMatch[] | undefined): RequestMatch {
  if (matches === undefined || matches.length === 0) return {};
  const conditions = matches.map(matchCondition);
  return conditions.length === 1 ? conditions[0]! : { any: conditions };
}

function matchCondition(match: HttpMatch): RequestMatch {
  const condition: RequestMatch = {};
  if (match.uri) condition.pathRegex = uriRegex(match.uri);
  if (match.method) condition.method = match.method.exact;
  if (match.headers) condition.headers = Object.fromEntries(Object.entries(match.headers).map(([name, m]) => [name.toLowerCase(), headerCheck(m)]));
  if (match.withoutHeaders) {
    // Each listed header must fail its match (Envoy's invert_match per header).
    condition.all = Object.entries(match.withoutHeaders).map(([name, m]) => ({ not: { headers: { [name.toLowerCase()]: headerCheck(m) } } }));
  }
  return condition;
}

/** The path regex (anchored at both ends by the matcher) for an Istio URI match. */
function uriRegex(match: StringMatch): string {
  if (match.exact !== undefined) return escapeRegex(match.exact);
  if (match.prefix !== undefined) return `${escapeRegex(match.prefix)}.*`;
  return match.regex!;
}

/** An empty match checks that the header is there, as Istio's does. */
function headerCheck(match: StringMatch): NonNullable<RequestMatch['headers']>[string] {
  if (match.exact !== undefined) return { exact: match.exact };
  if (match.prefix !== undefined) return { prefix: match.prefix };
  if (match.regex !== undefined) return { regex: match.regex };
  return { present: true };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

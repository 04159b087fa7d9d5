/**
 * The options of one meshClient, validated by a single zod schema so that code options and (later)
 * YAML config are checked the same way and produce the same errors: each names the field path and
 * what was expected. Unknown fields are errors, because a misspelt option silently ignored is a
 * production incident waiting to happen.
 */
import { z } from 'zod';
import type { Clock, Random } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Stack } from '../core/stack.js';
import type { EndpointAddress } from '../discovery/endpoint-address.js';
import type { DiscoverySpec } from '../discovery/parse-discovery.js';
import type { MeshRequest, MeshResponse } from './http-types.js';

export const BALANCERS = ['p2c-ewma', 'p2c-least-request', 'round-robin'] as const;
export type BalancerKind = (typeof BALANCERS)[number];

const positiveMs = z.number().finite().positive();

const endpointSchema = z.union([
  z.string(),
  z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535), weight: z.number().positive().optional(), labels: z.record(z.string()).optional() }).strict(),
]);

export const clientDataSchema = z
  .object({
    endpoints: z.array(endpointSchema).optional(),
    discovery: z.union([z.string().min(1), z.record(z.unknown())]).optional(),
    balancer: z.enum(BALANCERS).optional(),
    ewma: z.object({ decayMs: positiveMs.optional(), initialRttMs: positiveMs.optional() }).strict().optional(),
    outlierDetection: z
      .union([
        z.literal(false),
        z
          .object({
            consecutiveFailures: z.number().int().min(0).optional(),
            baseEjectionMs: positiveMs.optional(),
            maxEjectionMs: positiveMs.optional(),
            maxEjectedPercent: z.number().min(0).max(100).optional(),
          })
          .strict(),
      ])
      .optional(),
    connection: z
      .object({
        connections: z.number().int().positive().optional(),
        keepAliveTimeoutMs: positiveMs.optional(),
        connectTimeoutMs: positiveMs.optional(),
        headersTimeoutMs: positiveMs.optional(),
        bodyTimeoutMs: positiveMs.optional(),
      })
      .strict()
      .optional(),
    discoveryTimeoutMs: positiveMs.optional(),
  })
  .strict();

export type ClientData = z.infer<typeof clientDataSchema>;

/** Options only code can give: objects and functions that have no YAML form. */
export interface ClientCodeOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Edits the default stack before it is built, e.g. `(s) => s.prepend(myFilterModule)`. */
  stack?: (stack: Stack<MeshRequest, MeshResponse>) => Stack<MeshRequest, MeshResponse>;
}

export interface MeshClientOptions extends ClientCodeOptions {
  /** A fixed endpoint list: `host:port` strings or `{ host, port }`. Give this or `discovery`. */
  endpoints?: readonly (string | EndpointAddress)[];
  /** Where endpoints come from: `file:./eps.json`, `dns:reviews.local:8080`, `dns+srv:_http._tcp.reviews.local`, or an object form. */
  discovery?: DiscoverySpec;
  /** Default `p2c-ewma`. */
  balancer?: BalancerKind;
  ewma?: ClientData['ewma'];
  /** `false` turns ejection off. */
  outlierDetection?: ClientData['outlierDetection'];
  connection?: ClientData['connection'];
  /** How long a request waits for the first endpoint set, ms. Default 5 000. */
  discoveryTimeoutMs?: number;
}

const CODE_ONLY_KEYS = new Set(['clock', 'random', 'logger', 'stack']);

/** Validates the data part of the options; throws one MeshError listing every problem. */
export function validateClientOptions(service: string, options: MeshClientOptions, where = `meshClient("${service}")`): ClientData {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!CODE_ONLY_KEYS.has(key)) data[key] = value;
  const parsed = clientDataSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue)}`);
    throw new MeshError('INVALID_OPTIONS', `${where}: invalid options:\n  - ${problems.join('\n  - ')}`, { service });
  }
  if (parsed.data.endpoints && parsed.data.discovery) {
    throw new MeshError('INVALID_OPTIONS', `${where}: give either "endpoints" or "discovery", not both`, { service });
  }
  if (!parsed.data.endpoints && !parsed.data.discovery) {
    throw new MeshError(
      'INVALID_OPTIONS',
      `${where}: no endpoints: give "endpoints: ['127.0.0.1:8080']" or "discovery: 'file:./eps.json' | 'dns:host:port' | 'dns+srv:_name._tcp.domain'"`,
      { service },
    );
  }
  return parsed.data;
}

export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(options)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function describeIssue(issue: z.ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_enum_value':
      return `expected one of ${issue.options.map((o) => `'${String(o)}'`).join(' | ')}, got '${String(issue.received)}'`;
    case 'invalid_type':
      return issue.received === 'undefined' ? `required (${issue.expected})` : `expected ${issue.expected}, got ${issue.received}`;
    case 'invalid_union':
      return `not a valid value (${issue.unionErrors.map((e) => e.issues[0]?.message ?? 'invalid').join('; or ')})`;
    default:
      return issue.message;
  }
}

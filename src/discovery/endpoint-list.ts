/**
 * Reads an endpoint list from parsed JSON/YAML: `["host:port", ...]`,
 * `[{ host, port, weight?, labels?, identity? }, ...]`, or either wrapped as `{ endpoints: [...] }`.
 * A `weight` is the endpoint's relative share of the traffic (every picker honours it); `labels`
 * (`version: v2`, `zone: eu-1`) are what subsets select endpoints by. An `identity` (a SPIFFE ID)
 * marks the endpoint as meshed: it is reached over mTLS and must prove that identity. Errors name
 * the entry's index and field and quote what was found there, so the file's author can find it.
 */
import { formatPath } from '../core/field-path.js';
import { quoteValue } from '../core/quote-value.js';
import { isSpiffeId } from '../tls/spiffe-id.js';
import { parseEndpoint, type EndpointAddress } from './endpoint-address.js';

/** What is wrong with an endpoint's weight, or undefined when it is good; shared with the config schema. */
export function endpointWeightProblem(weight: unknown): string | undefined {
  if (typeof weight === 'number' && Number.isFinite(weight) && weight > 0) return undefined;
  return 'expected a weight above 0 (a relative share, such as 1 or 3; to take an endpoint out of rotation, remove it)';
}

/** What is wrong with an endpoint's labels, or undefined when they are good; shared with the config schema. */
export function endpointLabelsProblem(labels: unknown): { path: string[]; message: string } | undefined {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return { path: [], message: 'expected labels as a mapping of names to strings, such as { version: v2 }' };
  for (const [name, value] of Object.entries(labels)) {
    if (typeof value !== 'string') return { path: [name], message: 'expected a label value as a string (quote it in YAML: "2")' };
  }
  return undefined;
}

/** What is wrong with one entry, and where in it (`['port']`; `[]` for the entry as a whole). */
export class EndpointEntryError extends Error {
  readonly path: (string | number)[];

  constructor(path: (string | number)[], message: string) {
    super(message);
    this.path = path;
  }
}

export function readEndpointList(value: unknown): EndpointAddress[] {
  const list = Array.isArray(value) ? value : (value as { endpoints?: unknown } | null)?.endpoints;
  if (!Array.isArray(list)) {
    throw new Error(`expected a list of endpoints ("host:port" strings or { host, port } objects), or { endpoints: [...] }, got ${quoteValue(value)}`);
  }
  return list.map((entry, i) => {
    try {
      return readEndpointEntry(entry);
    } catch (err) {
      const path = err instanceof EndpointEntryError ? err.path : [];
      throw new Error(`entry ${formatPath([i, ...path])}: ${(err as Error).message}`);
    }
  });
}

/** One entry: `"host:port"` or `{ host, port, weight?, labels?, identity? }`; throws EndpointEntryError. */
export function readEndpointEntry(entry: unknown): EndpointAddress {
  const fail = (path: (string | number)[], message: string): never => {
    throw new EndpointEntryError(path, message);
  };
  if (typeof entry === 'string') {
    try {
      return parseEndpoint(entry);
    } catch (err) {
      return fail([], (err as Error).message);
    }
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return fail([], `expected "host:port" or { host, port }, got ${quoteValue(entry)}`);
  const { host, port, weight, labels, identity, ...rest } = entry as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) fail([], `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: host, port, weight, labels, identity`);
  if (identity !== undefined && (typeof identity !== 'string' || !isSpiffeId(identity))) {
    fail(['identity'], `expected a SPIFFE ID such as spiffe://cluster.local/ns/default/sa/words, got ${quoteValue(identity)}`);
  }
  if (typeof host !== 'string' || host.length === 0) fail(['host'], `expected a host name or address, got ${quoteValue(host)}`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail(['port'], `expected a whole number from 1 to 65535, got ${quoteValue(port)}`);
  const weightProblem = weight === undefined ? undefined : endpointWeightProblem(weight);
  if (weightProblem) fail(['weight'], `${weightProblem}, got ${quoteValue(weight)}`);
  const labelsProblem = labels === undefined ? undefined : endpointLabelsProblem(labels);
  if (labelsProblem) fail(['labels', ...labelsProblem.path], `${labelsProblem.message}, got ${quoteValue(labelsProblem.path.length ? (labels as Record<string, unknown>)[labelsProblem.path[0]!] : labels)}`);
  return {
    host: host as string,
    port: port as number,
    ...(weight === undefined ? {} : { weight: weight as number }),
    ...(labels === undefined ? {} : { labels: { ...(labels as Record<string, string>) } }),
    ...(identity === undefined ? {} : { identity: identity as string }),
  };
}

/** Two sets are the same when they list the same endpoints with the same weights and labels, in any order. */
export function sameEndpointSet(a: readonly EndpointAddress[] | undefined, b: readonly EndpointAddress[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const key = (e: EndpointAddress) => JSON.stringify([e.host, e.port, e.weight ?? null, e.labels ? Object.entries(e.labels).sort() : null, e.identity ?? null]);
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((k, i) => k === right[i]);
}

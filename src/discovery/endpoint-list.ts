/**
 * Reads an endpoint list from parsed JSON/YAML: `["host:port", ...]`, `[{ host, port, identity? }, ...]`,
 * or either wrapped as `{ endpoints: [...] }`. An `identity` (a SPIFFE ID) marks the endpoint as
 * meshed: it is reached over mTLS and must prove that identity. Errors name the entry's index and
 * field and quote what was found there, so the file's author can find it.
 *
 * `weight` and `labels` are refused with a reason rather than taken: no balancer reads them yet, and
 * a weight that is accepted and ignored sends traffic where its author did not mean it to go.
 */
import { formatPath } from '../core/field-path.js';
import { quoteValue } from '../core/quote-value.js';
import { isSpiffeId } from '../tls/spiffe-id.js';
import { parseEndpoint, type EndpointAddress } from './endpoint-address.js';

export const UNSUPPORTED_ENDPOINT_FIELDS = {
  weight: 'endpoint weights are not supported yet (no balancer reads them); remove the field, and use split to weight traffic between services',
  labels: 'endpoint labels are not supported yet (nothing selects label subsets); remove the field',
} as const;

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

/** One entry: `"host:port"` or `{ host, port, identity? }`; throws EndpointEntryError. */
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
  if (unknown.length > 0) fail([], `unknown field ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: host, port, identity`);
  if (identity !== undefined && (typeof identity !== 'string' || !isSpiffeId(identity))) {
    fail(['identity'], `expected a SPIFFE ID such as spiffe://cluster.local/ns/default/sa/words, got ${quoteValue(identity)}`);
  }
  if (typeof host !== 'string' || host.length === 0) fail(['host'], `expected a host name or address, got ${quoteValue(host)}`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail(['port'], `expected a whole number from 1 to 65535, got ${quoteValue(port)}`);
  if (weight !== undefined) fail(['weight'], `${UNSUPPORTED_ENDPOINT_FIELDS.weight}, got ${quoteValue(weight)}`);
  if (labels !== undefined) fail(['labels'], `${UNSUPPORTED_ENDPOINT_FIELDS.labels}, got ${quoteValue(labels)}`);
  return { host: host as string, port: port as number, ...(identity === undefined ? {} : { identity: identity as string }) };
}

/** Two sets are the same when they list the same endpoints with the same weights and labels, in any order. */
export function sameEndpointSet(a: readonly EndpointAddress[] | undefined, b: readonly EndpointAddress[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const key = (e: EndpointAddress) => JSON.stringify([e.host, e.port, e.weight ?? null, e.labels ?? null, e.identity ?? null]);
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((k, i) => k === right[i]);
}

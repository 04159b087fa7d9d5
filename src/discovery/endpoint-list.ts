/**
 * Reads an endpoint list from parsed JSON/YAML: `["host:port", ...]`, `[{ host, port, weight?,
 * labels?, identity? }, ...]`, or either wrapped as `{ endpoints: [...] }`. An `identity` (a SPIFFE
 * ID) marks the endpoint as meshed: it is reached over mTLS and must prove that identity. Errors name the entry's index and
 * what was expected, so the file's author can find it.
 */
import { isSpiffeId } from '../tls/spiffe-id.js';
import { parseEndpoint, type EndpointAddress } from './endpoint-address.js';

export function readEndpointList(value: unknown): EndpointAddress[] {
  const list = Array.isArray(value) ? value : (value as { endpoints?: unknown } | null)?.endpoints;
  if (!Array.isArray(list)) {
    throw new Error('expected a list of endpoints ("host:port" strings or { host, port } objects), or { endpoints: [...] }');
  }
  return list.map((entry, i) => {
    try {
      return readEntry(entry);
    } catch (err) {
      throw new Error(`entry [${i}]: ${(err as Error).message}`);
    }
  });
}

function readEntry(entry: unknown): EndpointAddress {
  if (typeof entry === 'string') return parseEndpoint(entry);
  if (entry === null || typeof entry !== 'object') throw new Error(`expected "host:port" or { host, port }, got ${JSON.stringify(entry)}`);
  const { host, port, weight, labels, identity, ...rest } = entry as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new Error(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: host, port, weight, labels, identity`);
  if (identity !== undefined && (typeof identity !== 'string' || !isSpiffeId(identity))) {
    throw new Error(`"identity" must be a SPIFFE ID such as spiffe://cluster.local/ns/default/sa/words, got ${JSON.stringify(identity)}`);
  }
  if (typeof host !== 'string' || host.length === 0) throw new Error('"host" must be a non-empty string');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"port" must be a whole number from 1 to 65535, got ${JSON.stringify(port)}`);
  if (weight !== undefined && (typeof weight !== 'number' || !(weight > 0))) throw new Error(`"weight" must be a positive number, got ${JSON.stringify(weight)}`);
  if (labels !== undefined && (labels === null || typeof labels !== 'object' || Object.values(labels).some((v) => typeof v !== 'string'))) {
    throw new Error('"labels" must map names to strings');
  }
  return {
    host,
    port,
    ...(weight === undefined ? {} : { weight }),
    ...(labels === undefined ? {} : { labels: labels as Record<string, string> }),
    ...(identity === undefined ? {} : { identity: identity as string }),
  };
}

/** Two sets are the same when they list the same endpoints with the same weights and labels, in any order. */
export function sameEndpointSet(a: readonly EndpointAddress[] | undefined, b: readonly EndpointAddress[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const key = (e: EndpointAddress) => JSON.stringify([e.host, e.port, e.weight ?? null, e.labels ?? null, e.identity ?? null]);
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((k, i) => k === right[i]);
}

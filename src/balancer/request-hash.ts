/**
 * The affinity key a consistent-hash balancer places a request by (Istio's `consistentHash` keys),
 * hashed. A request that lacks its key (no such header, cookie or parameter) has no hash and is
 * placed at random, as Envoy does.
 *
 * The source address is the first `x-forwarded-for` entry when there is one (the sidecar writes the
 * app's address there, as would a gateway in front), else this host: every request of an app then
 * sticks to one endpoint, which is what Istio's `useSourceIp` gives a pod behind its sidecar.
 */
import { hostname } from 'node:os';
import type { ConsistentHashKey } from '../core/policy.js';
import { headerValue } from '../http/header-shapes.js';
import type { MeshRequest } from '../http/http-types.js';
import { hashString } from './hash-string.js';

export function requestHash(key: ConsistentHashKey): (req: MeshRequest) => number | undefined {
  if ('header' in key) {
    const name = key.header.toLowerCase();
    return (req) => hashOrUndefined(headerValue(req.headers, name));
  }
  if ('cookie' in key) {
    const name = key.cookie;
    return (req) => hashOrUndefined(cookieValue(headerValue(req.headers, 'cookie'), name));
  }
  if ('queryParameter' in key) {
    const name = key.queryParameter;
    return (req) => {
      const q = req.path.indexOf('?');
      return q < 0 ? undefined : hashOrUndefined(new URLSearchParams(req.path.slice(q + 1)).get(name) ?? undefined);
    };
  }
  const thisHost = hashString(hostname());
  return (req) => {
    const forwarded = headerValue(req.headers, 'x-forwarded-for');
    if (forwarded === undefined) return thisHost;
    const comma = forwarded.indexOf(',');
    return hashString((comma < 0 ? forwarded : forwarded.slice(0, comma)).trim());
  };
}

function hashOrUndefined(value: string | undefined): number | undefined {
  return value === undefined ? undefined : hashString(value);
}

/** A cookie's value from a Cookie header (several headers arrive joined by ", "; cookie values hold neither , nor ;). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(/[;,]/)) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

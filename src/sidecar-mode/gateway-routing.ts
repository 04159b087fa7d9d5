/**
 * Which mesh service a request at the gateway goes to: the first route whose hosts include the
 * request's host and whose path match (prefix, exact, or a regex over the whole path) takes the path
 * without its query. Hosts are compared as DNS names are: case-insensitively, without the port and
 * without a trailing dot, so `SHOP.example.com.:8443` is `shop.example.com`; patterns are
 * config/host-pattern.ts's.
 */
import type { GatewayRoute, PathMatch } from '../config/gateway-schema.js';
import { hostMatches } from '../config/host-pattern.js';

/** The host of an authority (Host header, :authority, a URL's host) as routes compare it, or a problem. */
export function normalizeHost(authority: string): string | { problem: string } {
  let host = authority.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0 || !/^(:\d+)?$/.test(host.slice(end + 1))) return { problem: `the host ${JSON.stringify(authority)} is not a valid [IPv6]:port` };
    return host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d+$/.test(host.slice(colon + 1))) return { problem: `the host ${JSON.stringify(authority)} has a port that is not a number` };
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) return { problem: `the host ${JSON.stringify(authority)} is not a valid host name` };
  return host;
}

export type GatewayMatch = { route: GatewayRoute } | { unknownHost: true } | { noRoute: true };

interface CompiledRoute {
  route: GatewayRoute;
  matchesPath: (path: string) => boolean;
}

export class GatewayRoutes {
  readonly #routes: CompiledRoute[];

  constructor(routes: GatewayRoute[]) {
    this.#routes = routes.map((route) => ({ route, matchesPath: pathMatcher(route.path) }));
  }

  /** The route for a normalized host and a path (its query is ignored). */
  find(host: string, pathAndQuery: string): GatewayMatch {
    const query = pathAndQuery.indexOf('?');
    const path = query < 0 ? pathAndQuery : pathAndQuery.slice(0, query);
    let knownHost = false;
    for (const compiled of this.#routes) {
      if (!compiled.route.hosts.some((pattern) => hostMatches(pattern, host))) continue;
      knownHost = true;
      if (compiled.matchesPath(path)) return { route: compiled.route };
    }
    return knownHost ? { noRoute: true } : { unknownHost: true };
  }

  /** Whether any route serves the host (the redirect listener refuses the others). */
  serves(host: string): boolean {
    return this.#routes.some((compiled) => compiled.route.hosts.some((pattern) => hostMatches(pattern, host)));
  }
}

function pathMatcher(match: PathMatch | undefined): (path: string) => boolean {
  if (match === undefined) return () => true;
  if (match.exact !== undefined) {
    const exact = match.exact;
    return (path) => path === exact;
  }
  if (match.prefix !== undefined) {
    const prefix = match.prefix;
    return (path) => path.startsWith(prefix);
  }
  // The whole path must match, as Envoy's safe_regex does (not a search within it).
  const regex = new RegExp(`^(?:${match.regex})$`);
  return (path) => regex.test(path);
}

/**
 * The routes of a gateway from the Istio VirtualServices bound to it through `gateways:`
 * (`<name>` in the Gateway's namespace, or `<namespace>/<name>`). Each `http[]` entry becomes one
 * gateway route per `match` alternative (or one for every path without `match`), in order, for the
 * VirtualService's `hosts`, to the one mesh service its destination names (exactly, or by the
 * host's first DNS label, as everywhere in meshwork). A gateway route matches host and path only,
 * and calls one service whose own policy then applies; anything else in such an entry is refused
 * with the reason rather than ignored.
 *
 * It takes VirtualServices as the Istio loader has already parsed them; GatewayBoundVirtualService
 * is the part of that shape it reads.
 */
import type { GatewayRoute, PathMatch } from '../gateway-schema.js';
import { hostPatternSchema } from '../host-pattern.js';

export interface GatewayBoundVirtualService {
  metadata: { name: string; namespace?: string | undefined };
  spec: {
    hosts: string[];
    gateways?: string[] | undefined;
    http: ({
      name?: string | undefined;
      match?: ({ uri?: { exact?: string | undefined; prefix?: string | undefined; regex?: string | undefined } | undefined } & Record<string, unknown>)[] | undefined;
      route: { destination: { host: string }; weight?: number | undefined }[];
    } & Record<string, unknown>)[];
  };
}

export interface GatewayRef {
  name: string;
  namespace?: string | undefined;
}

export interface VirtualServiceProblem {
  path: (string | number)[];
  message: string;
}

/** Whether the VirtualService names the gateway in `gateways:`. */
export function boundToGateway(vs: GatewayBoundVirtualService, gateway: GatewayRef): boolean {
  const gatewayNamespace = gateway.namespace ?? 'default';
  return (vs.spec.gateways ?? []).some((ref) => {
    const slash = ref.indexOf('/');
    if (slash < 0) return ref === gateway.name && (vs.metadata.namespace ?? 'default') === gatewayNamespace;
    return ref.slice(slash + 1) === gateway.name && ref.slice(0, slash) === gatewayNamespace;
  });
}

/** Fields of an HTTP match that a gateway route can take; the others are refused. */
const GATEWAY_MATCH_FIELDS = new Set(['uri', 'name']);

/** What a gateway route takes from an `http[]` entry; the rest applies only where the mesh routes the service. */
const GATEWAY_HTTP_FIELDS = new Set(['name', 'match', 'route']);

export function gatewayRoutesOf(vs: GatewayBoundVirtualService, serviceFor: (host: string) => string | undefined): { routes: GatewayRoute[]; problems: VirtualServiceProblem[] } {
  const routes: GatewayRoute[] = [];
  const problems: VirtualServiceProblem[] = [];
  const hosts: string[] = [];
  vs.spec.hosts.forEach((written, i) => {
    const host = hostPatternSchema.safeParse(written);
    if (host.success) hosts.push(host.data);
    else problems.push({ path: ['spec', 'hosts', i], message: `expected a host name (shop.example.com), a wildcard (*.example.com) or *, got ${JSON.stringify(written)}` });
  });
  // Bound to the mesh too, the entry's other fields become the service's own route; bound to
  // gateways alone, nothing would apply them.
  const meshToo = vs.spec.gateways?.includes('mesh') ?? false;
  vs.spec.http.forEach((http, i) => {
    if (!meshToo) {
      for (const [field, value] of Object.entries(http)) {
        if (value !== undefined && !GATEWAY_HTTP_FIELDS.has(field)) {
          problems.push({ path: ['spec', 'http', i, field], message: `a VirtualService bound only to a gateway picks the service by host and path; ${field} would not apply: put it in a VirtualService for the service (gateways: [mesh]) or add mesh to gateways` });
        }
      }
    }
    const destinations = http.route.filter((d) => d.weight === undefined || d.weight > 0);
    if (destinations.length !== 1) {
      problems.push({ path: ['spec', 'http', i, 'route'], message: 'a gateway route goes to one service: give one destination, and split traffic on that service (its own VirtualService or split)' });
      return;
    }
    const host = destinations[0]!.destination.host;
    const service = serviceFor(host);
    if (service === undefined) {
      problems.push({ path: ['spec', 'http', i, 'route', http.route.indexOf(destinations[0]!), 'destination', 'host'], message: `no Mesh service is named "${host}" or "${host.split('.')[0]}"; define it under spec.services` });
      return;
    }
    const matches = http.match?.length ? http.match : [undefined];
    matches.forEach((match, j) => {
      const extra = Object.keys(match ?? {}).filter((field) => !GATEWAY_MATCH_FIELDS.has(field) && match![field] !== undefined);
      if (extra.length > 0) {
        problems.push({ path: ['spec', 'http', i, 'match', j], message: `a gateway route matches the host and the path (uri) only, not ${extra.join(', ')}; match those on the service's own routes` });
        return;
      }
      const path = pathMatch(match?.uri);
      const name = http.name ?? `${vs.metadata.name}-${i}`;
      routes.push({ name: matches.length > 1 ? `${name}-${j}` : name, hosts, ...(path ? { path } : {}), service });
    });
  });
  return { routes, problems };
}

function pathMatch(uri: { exact?: string | undefined; prefix?: string | undefined; regex?: string | undefined } | undefined): PathMatch | undefined {
  if (uri?.exact !== undefined) return { exact: uri.exact };
  if (uri?.prefix !== undefined) return { prefix: uri.prefix };
  if (uri?.regex !== undefined) return { regex: uri.regex };
  return undefined;
}

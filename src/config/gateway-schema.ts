/**
 * The `spec.gateway` section of a `kind: Mesh` document: mesh-sidecar as the edge of the mesh. An
 * HTTPS listener whose server certificate is chosen per connection by SNI, an optional plain HTTP
 * listener that redirects to HTTPS (or serves the same routes), and routes from host and path to a
 * mesh service, tried in order (the first match wins). Istio's `kind: Gateway` (gateway-resource.ts)
 * produces the same section.
 */
import { z } from 'zod';
import { hostPatternSchema } from './host-pattern.js';
import { parseHostPort, type HostPort } from './listen-address.js';

const listenAddress = z.union([z.string(), z.number()]).transform((value, ctx): HostPort | null => {
  const parsed = parseHostPort(String(value), '0.0.0.0');
  if (parsed !== null && 'problem' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  }
  return parsed;
});

function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return `not a valid regular expression (${(err as Error).message})`;
  }
}

/** How a route matches the path (without the query): a string prefix, the exact path, or a regex matching all of it. */
export const pathMatchSchema = z
  .object({
    prefix: z.string().startsWith('/', 'expected a path starting with /').optional(),
    exact: z.string().startsWith('/', 'expected a path starting with /').optional(),
    regex: z
      .string()
      .superRefine((source, ctx) => {
        const problem = regexProblem(source);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  })
  .strict()
  .refine((m) => [m.prefix, m.exact, m.regex].filter((v) => v !== undefined).length === 1, 'give one of prefix, exact or regex');
export type PathMatch = z.output<typeof pathMatchSchema>;

const routeSchema = z
  .object({
    name: z.string().min(1).optional(),
    hosts: z.array(hostPatternSchema).min(1, 'expected at least one host'),
    path: pathMatchSchema.optional(),
    service: z.string().min(1),
  })
  .strict();

const certificateSchema = z
  .object({
    hosts: z.array(hostPatternSchema).min(1, 'expected at least one host'),
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
  })
  .strict();

export const gatewaySchema = z
  .object({
    https: listenAddress.optional(),
    http: listenAddress.optional(),
    // true: the plain HTTP listener answers 308 to the same URL over HTTPS; false: it serves the routes.
    httpsRedirect: z.boolean().optional(),
    certificates: z.array(certificateSchema).optional(),
    routes: z.array(routeSchema).optional(),
  })
  .strict()
  .superRefine((g, ctx) => {
    if (g.https && !g.certificates?.length) ctx.addIssue({ code: 'custom', path: ['certificates'], message: 'an https listener needs at least one certificate' });
    if (g.https === undefined && g.http === undefined) ctx.addIssue({ code: 'custom', path: ['https'], message: 'give an https listener, an http listener, or both' });
  });

export type GatewayConfig = z.input<typeof gatewaySchema>;

export interface GatewayCertificate {
  hosts: string[];
  certFile: string;
  keyFile: string;
  /** `file:line:col: <document> <field>` of certFile and keyFile, for errors that come from reading them. */
  where: { certFile: string; keyFile: string };
}

export interface GatewayRoute {
  name: string;
  hosts: string[];
  path?: PathMatch;
  service: string;
}

/** A gateway as the sidecar runs it, whichever form (Mesh YAML or Istio Gateway) it came from. */
export interface GatewaySection {
  https: HostPort | null;
  http: HostPort | null;
  httpsRedirect: boolean;
  certificates: GatewayCertificate[];
  routes: GatewayRoute[];
  /** Where the routes' services are named (route index → location), to report unknown services. */
  routeWhere: string[];
}

/** A valid `spec.gateway` as a GatewaySection; `locate(path)` says where a field under it was written. */
export function gatewaySection(parsed: z.output<typeof gatewaySchema>, locate: (path: (string | number)[]) => string): GatewaySection {
  const routes = parsed.routes ?? [];
  return {
    https: parsed.https ?? null,
    http: parsed.http ?? null,
    // With both listeners the plain one redirects unless told otherwise; alone it serves the routes.
    httpsRedirect: parsed.httpsRedirect ?? (parsed.https !== undefined && parsed.https !== null),
    certificates: (parsed.certificates ?? []).map((c, i) => ({
      ...c,
      where: { certFile: locate(['certificates', i, 'certFile']), keyFile: locate(['certificates', i, 'keyFile']) },
    })),
    routes: routes.map((r, i) => ({ name: r.name ?? `route-${i}`, hosts: r.hosts, ...(r.path ? { path: r.path } : {}), service: r.service })),
    routeWhere: routes.map((_, i) => locate(['routes', i, 'service'])),
  };
}

/** Routes that name a service the mesh does not define, as `where: message` lines. */
export function unknownRouteServices(gateway: GatewaySection, isService: (name: string) => boolean): string[] {
  const problems: string[] = [];
  gateway.routes.forEach((route, i) => {
    if (!isService(route.service)) problems.push(`${gateway.routeWhere[i]}: no Mesh service is named "${route.service}"; define it under spec.services`);
  });
  return problems;
}

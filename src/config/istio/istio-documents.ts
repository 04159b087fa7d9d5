/**
 * Puts a config file's Istio documents onto its mesh services: DestinationRules first (their
 * subsets are what routes name), then VirtualServices. Each document attaches to the services its
 * hosts name, as ServiceProfiles do; what it cannot be attached to, or names that does not exist
 * (a host outside the mesh without a port, an undefined subset, a second rule for the same service),
 * is reported at the field that says it. Returns where each routed service's VirtualService is.
 */
import { serviceForProfile } from '../service-profile.js';
import type { YamlDocument } from '../yaml-source.js';
import { destinationRuleOptions, type DestinationRule } from './destination-rule.js';
import { virtualServiceRoutes, type VirtualService } from './virtual-service.js';

export interface IstioSource<T> {
  doc: YamlDocument;
  label: string;
  value: T;
}

/** A mesh service as the file builds it: its options as input, and where they came from. */
export interface IstioTarget {
  input: Record<string, unknown>;
  sources: string[];
}

export type IstioProblemReporter = (doc: YamlDocument, label: string, path: (string | number)[], message: string) => void;

export function applyIstioDocuments(
  destinationRules: IstioSource<DestinationRule>[],
  virtualServices: IstioSource<VirtualService>[],
  services: ReadonlyMap<string, IstioTarget>,
  /** Services whose routes a ServiceProfile of the file gives, and where. */
  profileRoutes: ReadonlyMap<string, string>,
  report: IstioProblemReporter,
): Map<string, string> {
  const names = [...services.keys()];
  const serviceFor = (host: string) => (host.includes('*') ? undefined : serviceForProfile(host, names));
  const notAService = (host: string) =>
    host.includes('*')
      ? `wildcard hosts are not supported: name one mesh service`
      : `no Mesh service is named "${host}" or "${host.split('.')[0]}"; define it under spec.services of a kind: Mesh document`;

  const ruled = new Map<string, string>();
  for (const { doc, label, value } of destinationRules) {
    const service = serviceFor(value.spec.host);
    if (service === undefined) {
      report(doc, label, ['spec', 'host'], notAService(value.spec.host));
      continue;
    }
    if (ruled.has(service)) {
      report(doc, label, ['spec', 'host'], `service "${service}" already has a DestinationRule (${ruled.get(service)}); give it one`);
      continue;
    }
    ruled.set(service, doc.locate(['spec', 'host']));
    const target = services.get(service)!;
    Object.assign(target.input, destinationRuleOptions(value, target.input));
    target.sources.push(doc.locate(['metadata', 'name']));
  }

  const routed = new Map<string, string>();
  for (const { doc, label, value } of virtualServices) {
    const targets: string[] = [];
    value.spec.hosts.forEach((host, i) => {
      const service = serviceFor(host);
      if (service === undefined) report(doc, label, ['spec', 'hosts', i], notAService(host));
      else if (routed.has(service)) report(doc, label, ['spec', 'hosts', i], `service "${service}" already has a VirtualService (${routed.get(service)}); give its routes in one`);
      else if (profileRoutes.has(service)) report(doc, label, ['spec', 'hosts', i], `service "${service}" has routes from a ServiceProfile (${profileRoutes.get(service)}); give its routes in one of the two`);
      else {
        targets.push(service);
        routed.set(service, doc.locate(['metadata', 'name']));
      }
    });
    const problems: [(string | number)[], string][] = [];
    const destinationName = (host: string, port: number | undefined, subset: string | undefined, path: (string | number)[]): string => {
      const service = serviceFor(host);
      if (service === undefined) {
        if (port === undefined) problems.push([[...path, 'host'], `${notAService(host)}, or give port.number to reach "${host}" by DNS`]);
        else if (subset !== undefined) problems.push([[...path, 'subset'], `"${host}" is not a mesh service, so it has no subsets`]);
        return `${host}:${port}`;
      }
      if (subset !== undefined) {
        const subsets = services.get(service)!.input.subsets as Record<string, unknown> | undefined;
        if (subsets?.[subset] === undefined) {
          const known = Object.keys(subsets ?? {});
          problems.push([[...path, 'subset'], `service "${service}" has no subset "${subset}" (${known.length ? `its subsets: ${known.join(', ')}` : 'no DestinationRule gives it subsets'})`]);
        }
      }
      return service;
    };
    value.spec.http.forEach((route, r) => {
      route.route.forEach((d, i) => destinationName(d.destination.host, d.destination.port?.number, d.destination.subset, ['spec', 'http', r, 'route', i, 'destination']));
      if (route.mirror) destinationName(route.mirror.host, route.mirror.port?.number, undefined, ['spec', 'http', r, 'mirror']);
    });
    for (const service of targets) {
      const input = services.get(service)!.input;
      if (input.retries === false) {
        value.spec.http.forEach((route, r) => {
          if ((route.retries?.attempts ?? 0) > 0) problems.push([['spec', 'http', r, 'retries'], `service "${service}" has retries: false in its Mesh document; remove that or these retries`]);
        });
      }
    }
    for (const [path, message] of problems) report(doc, label, path, message);
    if (problems.length > 0 || targets.length === 0) continue;
    const routes = virtualServiceRoutes(value, (host, port) => destinationName(host, port, undefined, []));
    for (const service of targets) {
      const target = services.get(service)!;
      target.input.routes = routes;
      target.sources.push(doc.locate(['metadata', 'name']));
    }
  }
  return routed;
}

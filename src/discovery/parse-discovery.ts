/**
 * Turns the `endpoints` / `discovery` option into a Resolver. The string forms are for humans
 * (`file:./eps.json`, `dns:reviews.local:8080`, `dns+srv:_http._tcp.reviews.local`,
 * `k8s:reviews.default:http`); the object forms add the knobs (nameservers, refresh intervals, a
 * kubeconfig) that a string cannot carry readably.
 *
 * Checking a spec builds nothing (`discoveryProblem`), so the config schema can report a bad
 * discovery at its file, line and field before any resolver exists.
 */
import { Resolver as NodeDnsResolver } from 'node:dns/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Clock, Random } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { formatPath } from '../core/field-path.js';
import type { Logger } from '../core/logger.js';
import { quoteValue } from '../core/quote-value.js';
import { parseEndpoint, type EndpointAddress } from './endpoint-address.js';
import { EndpointEntryError, readEndpointEntry } from './endpoint-list.js';
import { DnsResolver, type DnsResolverOptions } from './dns-resolver.js';
import { FileResolver } from './file-resolver.js';
import type { Resolver } from './resolver.js';
import { StaticResolver } from './static-resolver.js';
import { kubernetesResolverFromObject, kubernetesResolverFromString, kubernetesResolverOptions, type KubernetesDiscoverySpec } from './kubernetes/kubernetes-discovery-spec.js';
import { parseKubernetesTarget } from './kubernetes/kubernetes-target.js';

interface DnsKnobs {
  nameservers?: string[];
  refreshIntervalMs?: number;
  minRefreshMs?: number;
  maxRefreshMs?: number;
  queryTimeoutMs?: number;
}

export type DiscoverySpec =
  | string
  | readonly (string | EndpointAddress)[]
  | { type: 'static'; endpoints: readonly (string | EndpointAddress)[] }
  | { type: 'file'; path: string; pollIntervalMs?: number }
  | ({ type: 'dns'; hostname: string; port: number } & DnsKnobs)
  | ({ type: 'dns+srv'; name: string } & DnsKnobs)
  | KubernetesDiscoverySpec;

export interface ResolverContext {
  clock?: Clock;
  /** Jitter for retries (Kubernetes watches). */
  random?: Random;
  logger?: Logger;
  /** The service the resolver is for; named in errors. */
  service?: string;
  /** Relative file paths are resolved against this. Default: the working directory. */
  baseDir?: string;
  /**
   * The endpoints' labels are needed (the service has subsets). Files and static lists carry them
   * anyway; Kubernetes discovery then also watches the namespace's pods for them.
   */
  endpointLabels?: boolean;
}

/** What is wrong with a spec: the field inside it (`['port']`, `[]` for the spec itself) and why. */
export interface DiscoveryProblem {
  path: (string | number)[];
  message: string;
}

const FORMS =
  "'file:<path>', 'dns:<host>:<port>', 'dns+srv:<name>', 'k8s:<service>.<namespace>:<port>', a list of 'host:port', or { type: 'static' | 'file' | 'dns' | 'dns+srv' | 'kubernetes', ... }";
const DNS_KNOBS = ['nameservers', 'refreshIntervalMs', 'minRefreshMs', 'maxRefreshMs', 'queryTimeoutMs'] as const;
const FIELDS: Record<string, readonly string[]> = {
  static: ['type', 'endpoints'],
  file: ['type', 'path', 'pollIntervalMs'],
  dns: ['type', 'hostname', 'port', ...DNS_KNOBS],
  'dns+srv': ['type', 'name', ...DNS_KNOBS],
  // Checked field by field by kubernetes-discovery-spec.ts.
  kubernetes: [],
};

type Plan =
  | { type: 'static'; endpoints: EndpointAddress[] }
  | { type: 'file'; path: string; pollIntervalMs?: number }
  | { type: 'dns'; options: DnsResolverOptions }
  | { type: 'kubernetes'; spec: KubernetesDiscoverySpec }
  | { type: 'kubernetes-target'; target: string };

class DiscoveryError extends Error {
  readonly path: (string | number)[];

  constructor(path: (string | number)[], message: string) {
    super(message);
    this.path = path;
  }
}

/** The first problem with a spec, or undefined when it is good. */
export function discoveryProblem(spec: unknown): DiscoveryProblem | undefined {
  try {
    planDiscovery(spec);
    return undefined;
  } catch (err) {
    if (err instanceof DiscoveryError) return { path: err.path, message: err.message };
    throw err;
  }
}

export function resolverFromSpec(spec: DiscoverySpec, context: ResolverContext = {}): Resolver {
  const fail = (path: (string | number)[], why: string): never => {
    const where = `${context.service ? `service "${context.service}": ` : ''}${formatPath(['discovery', ...path])}`;
    throw new MeshError('INVALID_OPTIONS', `${where}: ${why}`, context.service ? { service: context.service } : {});
  };
  let plan: Plan;
  try {
    plan = planDiscovery(spec);
  } catch (err) {
    if (err instanceof DiscoveryError) return fail(err.path, err.message);
    throw err;
  }
  const clock = context.clock ? { clock: context.clock } : {};
  try {
    switch (plan.type) {
      case 'static':
        return new StaticResolver(plan.endpoints);
      case 'file':
        return new FileResolver({ path: absolute(plan.path, context), ...clock, ...(plan.pollIntervalMs ? { pollIntervalMs: plan.pollIntervalMs } : {}) });
      case 'dns':
        return new DnsResolver({ ...plan.options, ...clock });
      case 'kubernetes':
        return kubernetesResolverFromObject(plan.spec, kubernetesRuntime(context));
      case 'kubernetes-target':
        return kubernetesResolverFromString(plan.target, kubernetesRuntime(context));
    }
  } catch (err) {
    return fail([], (err as Error).message);
  }
}

function planDiscovery(spec: unknown): Plan {
  if (Array.isArray(spec)) return { type: 'static', endpoints: endpointList(spec, []) };
  if (typeof spec === 'string') return fromString(spec);
  if (spec === null || typeof spec !== 'object') throw new DiscoveryError([], `expected a string, a list or an object (${FORMS}), got ${quoteValue(spec)}`);
  const object = spec as Record<string, unknown>;
  const type = object.type;
  // Own keys only: a type such as "constructor" must not find Object's.
  const allowed = typeof type === 'string' && Object.hasOwn(FIELDS, type) ? FIELDS[type] : undefined;
  if (allowed === undefined) throw new DiscoveryError(['type'], `expected one of 'static' | 'file' | 'dns' | 'dns+srv' | 'kubernetes', got ${quoteValue(type)}`);
  if (type === 'kubernetes') {
    try {
      kubernetesResolverOptions(object as unknown as KubernetesDiscoverySpec, {});
    } catch (err) {
      throw new DiscoveryError([], (err as Error).message);
    }
    return { type: 'kubernetes', spec: object as unknown as KubernetesDiscoverySpec };
  }
  const unknown = Object.keys(object).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw new DiscoveryError([], `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')} for type ${type}; allowed: ${allowed.join(', ')}`);
  const bad = (field: string, expected: string): never => {
    throw new DiscoveryError([field], `expected ${expected}, got ${quoteValue(object[field])}`);
  };
  switch (type) {
    case 'static':
      if (!Array.isArray(object.endpoints)) return bad('endpoints', 'a list of endpoints ("host:port" or { host, port })');
      return { type: 'static', endpoints: endpointList(object.endpoints, ['endpoints']) };
    case 'file':
      if (typeof object.path !== 'string' || object.path === '') return bad('path', 'a file path');
      if (object.pollIntervalMs !== undefined && !isPositive(object.pollIntervalMs)) return bad('pollIntervalMs', 'milliseconds above 0');
      return { type: 'file', path: object.path, ...(object.pollIntervalMs === undefined ? {} : { pollIntervalMs: object.pollIntervalMs as number }) };
    case 'dns':
      if (typeof object.hostname !== 'string' || object.hostname === '') return bad('hostname', 'a host name');
      if (typeof object.port !== 'number' || !Number.isInteger(object.port) || object.port < 1 || object.port > 65535) return bad('port', 'a whole number from 1 to 65535');
      return { type: 'dns', options: { ...dnsKnobs(object), mode: 'host', hostname: object.hostname, port: object.port } };
    default:
      if (typeof object.name !== 'string' || object.name === '') return bad('name', 'an SRV record name such as _http._tcp.reviews.local');
      return { type: 'dns', options: { ...dnsKnobs(object), mode: 'srv', name: object.name } };
  }
}

function fromString(spec: string): Plan {
  if (spec.startsWith('k8s:')) {
    const target = spec.slice('k8s:'.length);
    try {
      parseKubernetesTarget(target);
    } catch (err) {
      throw new DiscoveryError([], (err as Error).message);
    }
    return { type: 'kubernetes-target', target };
  }
  if (spec.startsWith('file:')) {
    const path = spec.slice('file:'.length);
    if (!path) throw new DiscoveryError([], `expected a path after "file:", e.g. file:./endpoints.json, got ${quoteValue(spec)}`);
    return { type: 'file', path };
  }
  if (spec.startsWith('dns+srv:')) {
    const name = spec.slice('dns+srv:'.length);
    if (!name) throw new DiscoveryError([], `expected a record name after "dns+srv:", e.g. dns+srv:_http._tcp.reviews.local, got ${quoteValue(spec)}`);
    return { type: 'dns', options: { mode: 'srv', name } };
  }
  if (spec.startsWith('dns:')) {
    let address: EndpointAddress;
    try {
      address = parseEndpoint(spec.slice('dns:'.length));
    } catch {
      throw new DiscoveryError([], `expected dns:<host>:<port>, e.g. dns:reviews.local:8080, got ${quoteValue(spec)}`);
    }
    return { type: 'dns', options: { mode: 'host', hostname: address.host, port: address.port } };
  }
  throw new DiscoveryError([], `expected one of ${FORMS}, got ${quoteValue(spec)}`);
}

function endpointList(entries: readonly unknown[], at: (string | number)[]): EndpointAddress[] {
  return entries.map((entry, i) => {
    try {
      return readEndpointEntry(entry);
    } catch (err) {
      if (err instanceof EndpointEntryError) throw new DiscoveryError([...at, i, ...err.path], err.message);
      throw err;
    }
  });
}

function kubernetesRuntime(context: ResolverContext): { clock?: Clock; random?: Random; baseDir?: string; podLabels?: boolean } {
  return {
    ...(context.clock ? { clock: context.clock } : {}),
    ...(context.random ? { random: context.random } : {}),
    ...(context.baseDir ? { baseDir: context.baseDir } : {}),
    ...(context.endpointLabels ? { podLabels: true } : {}),
  };
}

function absolute(path: string, context: ResolverContext): string {
  return isAbsolute(path) ? path : resolve(context.baseDir ?? process.cwd(), path);
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function dnsKnobs(object: Record<string, unknown>): DnsKnobs {
  const knobs: DnsKnobs = {};
  const { nameservers } = object;
  if (nameservers !== undefined) {
    if (!Array.isArray(nameservers) || nameservers.length === 0) throw new DiscoveryError(['nameservers'], `expected a list of nameserver addresses such as ["127.0.0.1:5353"], got ${quoteValue(nameservers)}`);
    nameservers.forEach((server, i) => {
      if (!isNameserver(server)) throw new DiscoveryError(['nameservers', i], `expected an IP address with an optional port (10.0.0.10, 127.0.0.1:5353, [::1]:53), got ${quoteValue(server)}`);
    });
    knobs.nameservers = nameservers as string[];
  }
  for (const knob of DNS_KNOBS) {
    if (knob === 'nameservers' || object[knob] === undefined) continue;
    if (!isPositive(object[knob])) throw new DiscoveryError([knob], `expected milliseconds above 0, got ${quoteValue(object[knob])}`);
    knobs[knob] = object[knob];
  }
  return knobs;
}

/** Whatever Node's resolver accepts, which is what it will be given. */
function isNameserver(server: unknown): boolean {
  if (typeof server !== 'string') return false;
  try {
    new NodeDnsResolver().setServers([server]);
    return true;
  } catch {
    return false;
  }
}

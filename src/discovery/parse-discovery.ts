/**
 * Turns the `endpoints` / `discovery` option into a Resolver. The string forms are for humans
 * (`file:./eps.json`, `dns:reviews.local:8080`, `dns+srv:_http._tcp.reviews.local`,
 * `k8s:reviews.default:http`); the object forms add the knobs (nameservers, refresh intervals, a
 * kubeconfig) that a string cannot carry readably.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Clock, Random } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseEndpoint, type EndpointAddress } from './endpoint-address.js';
import { DnsResolver } from './dns-resolver.js';
import { FileResolver } from './file-resolver.js';
import { kubernetesResolverFromObject, kubernetesResolverFromString, type KubernetesDiscoverySpec } from './kubernetes/kubernetes-discovery-spec.js';
import type { Resolver } from './resolver.js';
import { StaticResolver } from './static-resolver.js';

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
}

const FORMS =
  "'file:<path>', 'dns:<host>:<port>', 'dns+srv:<name>', 'k8s:<service>.<namespace>:<port>', a list of 'host:port', or { type: 'static' | 'file' | 'dns' | 'dns+srv' | 'kubernetes', ... }";

export function resolverFromSpec(spec: DiscoverySpec, context: ResolverContext = {}): Resolver {
  const where = context.service ? `service "${context.service}": discovery` : 'discovery';
  const fail = (why: string): never => {
    throw new MeshError('INVALID_OPTIONS', `${where}: ${why}; accepted forms: ${FORMS}`, context.service ? { service: context.service } : {});
  };
  const clock = context.clock ? { clock: context.clock } : {};
  try {
    if (Array.isArray(spec)) return new StaticResolver(spec.map(toAddress));
    if (typeof spec === 'string') return fromString(spec, context, clock, fail);
    if (spec === null || typeof spec !== 'object') return fail(`expected a string, a list or an object, got ${JSON.stringify(spec)}`);
    const object = spec as Exclude<DiscoverySpec, string | readonly unknown[]>;
    switch (object.type) {
      case 'static':
        if (!Array.isArray(object.endpoints)) return fail('"endpoints" must be a list');
        return new StaticResolver(object.endpoints.map(toAddress));
      case 'file':
        if (typeof object.path !== 'string' || object.path === '') return fail('"path" must be a file path');
        return new FileResolver({ path: absolute(object.path, context), ...clock, ...(object.pollIntervalMs ? { pollIntervalMs: object.pollIntervalMs } : {}) });
      case 'dns':
        if (typeof object.hostname !== 'string' || !object.hostname) return fail('"hostname" must be a host name');
        if (!Number.isInteger(object.port) || object.port < 1 || object.port > 65535) return fail(`"port" must be a whole number from 1 to 65535, got ${JSON.stringify(object.port)}`);
        return new DnsResolver({ ...dnsKnobs(object), ...clock, mode: 'host', hostname: object.hostname, port: object.port });
      case 'dns+srv':
        if (typeof object.name !== 'string' || !object.name) return fail('"name" must be an SRV record name such as _http._tcp.reviews.local');
        return new DnsResolver({ ...dnsKnobs(object), ...clock, mode: 'srv', name: object.name });
      case 'kubernetes':
        return kubernetesResolverFromObject(object, kubernetesRuntime(context));
      default:
        return fail(`unknown type ${JSON.stringify((object as { type?: unknown }).type)}`);
    }
  } catch (err) {
    if (err instanceof MeshError) throw err;
    return fail((err as Error).message);
  }
}

function fromString(spec: string, context: ResolverContext, clock: { clock?: Clock }, fail: (why: string) => never): Resolver {
  if (spec.startsWith('file:')) {
    const path = spec.slice('file:'.length);
    if (!path) return fail('"file:" needs a path, e.g. file:./endpoints.json');
    return new FileResolver({ path: absolute(path, context), ...clock });
  }
  if (spec.startsWith('k8s:')) return kubernetesResolverFromString(spec.slice('k8s:'.length), kubernetesRuntime(context));
  if (spec.startsWith('dns+srv:')) {
    const name = spec.slice('dns+srv:'.length);
    if (!name) return fail('"dns+srv:" needs a record name, e.g. dns+srv:_http._tcp.reviews.local');
    return new DnsResolver({ ...clock, mode: 'srv', name });
  }
  if (spec.startsWith('dns:')) {
    const target = spec.slice('dns:'.length);
    let address: EndpointAddress;
    try {
      address = parseEndpoint(target);
    } catch {
      return fail(`"${spec}" needs a port: dns:<host>:<port>, e.g. dns:reviews.local:8080`);
    }
    return new DnsResolver({ ...clock, mode: 'host', hostname: address.host, port: address.port });
  }
  return fail(`${JSON.stringify(spec)} is not a discovery source`);
}

function kubernetesRuntime(context: ResolverContext): { clock?: Clock; random?: Random; baseDir?: string } {
  return { ...(context.clock ? { clock: context.clock } : {}), ...(context.random ? { random: context.random } : {}), ...(context.baseDir ? { baseDir: context.baseDir } : {}) };
}

function toAddress(entry: string | EndpointAddress): EndpointAddress {
  return typeof entry === 'string' ? parseEndpoint(entry) : entry;
}

function absolute(path: string, context: ResolverContext): string {
  return isAbsolute(path) ? path : resolve(context.baseDir ?? process.cwd(), path);
}

function dnsKnobs(object: DnsKnobs): DnsKnobs {
  const knobs: DnsKnobs = {};
  if (object.nameservers !== undefined) knobs.nameservers = object.nameservers;
  if (object.refreshIntervalMs !== undefined) knobs.refreshIntervalMs = object.refreshIntervalMs;
  if (object.minRefreshMs !== undefined) knobs.minRefreshMs = object.minRefreshMs;
  if (object.maxRefreshMs !== undefined) knobs.maxRefreshMs = object.maxRefreshMs;
  if (object.queryTimeoutMs !== undefined) knobs.queryTimeoutMs = object.queryTimeoutMs;
  return knobs;
}

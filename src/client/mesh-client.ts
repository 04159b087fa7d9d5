/**
 * meshClient: one named service — its discovery, balancers and filter stack — behind three doors:
 * `request()` (undici-like, the fast path), `fetch()` (WHATWG Response) and `dispatcher` (an undici
 * Dispatcher, for `fetch(url, { dispatcher })` or `setGlobalDispatcher`).
 */
import type { Registry } from 'prom-client';
import { fetch as undiciFetch, type Dispatcher, type RequestInit, type Response } from 'undici';
import { systemClock, systemRandom } from '../core/clock.js';
import { ClockParam, CountersParam, DirectionParam, LoggerParam, RandomParam, ServiceName } from '../core/core-params.js';
import { Counters } from '../core/counters.js';
import { MeshError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { Params } from '../core/params.js';
import { newCallContext } from '../core/service.js';
import { validateServiceConfig, type ServiceSettings } from '../config/service-settings.js';
import type { CircuitBreakerPolicy, RetryBudgetPolicy } from '../core/policy.js';
import type { DiscoverySpec } from '../discovery/parse-discovery.js';
import { OnAdaptiveLimitParam } from '../filters/adaptive-concurrency.js';
import { OnBreakerBuiltParam, SharedBreakerParam, type BreakerState, type CircuitBreakerService } from '../filters/circuit-breaker.js';
import { breakerOptions, FailureRateBreaker } from '../policy/failure-rate-breaker.js';
import { MetricsParam } from '../filters/metrics.js';
import { MirrorTargetParam } from '../filters/mirror.js';
import { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { RetryBudget, RetryBudgetParam } from '../policy/retry-budget.js';
import { TracerProviderParam } from '../filters/tracing.js';
import { splitClientOptions, type ClientCodeOptions, type MeshClientOptions } from './client-options.js';
import { defaultClientStack, type HttpService, type HttpStack } from './default-stack.js';
import { Destinations } from './destinations.js';
import { endpointBalancer, type BalancerDeps, type EndpointBalancer, type EndpointStatus } from './endpoint-balancer.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { MeshDispatcher } from './mesh-dispatcher.js';

export type { EndpointStatus };

/** What an admin view shows of a client beyond its metrics. */
export interface ClientStatus {
  /** The circuit breaker's state and, while open, when it lets a probe through; undefined with `circuitBreaker: false`. */
  breaker: { state: BreakerState; probeInMs: number | undefined } | undefined;
  /** Endpoints by destination: the service's own, then each traffic-split destination used so far. */
  destinations: { destination: string; endpoints: EndpointStatus[] }[];
}

export interface MeshClient {
  readonly name: string;
  /** The stack this client was built from, for inspection (`stack.describe()`). */
  readonly stack: HttpStack;
  /** The validated settings the client runs with. */
  readonly settings: ServiceSettings;
  /** What this client's golden metrics are recorded into (its mesh's, if any); undefined with `metrics: false`. */
  readonly metrics: MeshMetrics | undefined;
  /** The Prometheus registry those metrics are in (an empty one with `metrics: false`). */
  readonly registry: Registry;
  /** An undici Dispatcher that sends every request it is given to this service. */
  readonly dispatcher: Dispatcher;
  /** Sends a request through the stack; the response is undici's (statusCode, headers, body). */
  request(req: Partial<MeshRequest> & { path: string }): Promise<MeshResponse>;
  /** WHATWG fetch through the stack; `path` is the path and query, e.g. `/reviews/1`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The endpoints the balancer knows now. */
  endpoints(): EndpointStatus[];
  /** What the stack has done so far: retries, budget exhaustion, breaker rejections, faults, ... */
  counters(): Record<string, number>;
  /** The breaker's state and the endpoints of every destination, for admin views. */
  status(): ClientStatus;
  /** The retry budget this service's retries draw on (in a mesh, shared with its grpcClients); undefined with `retries: false`. */
  readonly retryBudget: RetryBudget | undefined;
  /** The circuit breaker this service's calls are counted in (in a mesh, shared with its grpcClients); undefined with `circuitBreaker: false`. */
  readonly circuitBreaker: FailureRateBreaker | undefined;
  /** Stops discovery and closes every connection after in-flight requests finish. */
  close(): Promise<void>;
}

/** What a mesh tells its clients about the other services (for traffic-split destinations). */
export interface ClientEnvironment {
  /** The discovery of another service of the same mesh, if it has one by that name. */
  discoveryOf?(service: string): DiscoverySpec | undefined;
  /** The subsets (label selectors) of another service of the same mesh. */
  subsetsOf?(service: string): Record<string, Record<string, string>> | undefined;
  /** The mesh service an authority names (exactly, or by its host's first DNS label), if any. */
  serviceFor?(authority: string): string | undefined;
  /** Relative discovery file paths are resolved against this (the config file's directory). */
  baseDir?: string;
  /** The mesh's retry budget for a service with these settings (see service-retry-budgets.ts). */
  retryBudgetFor?(service: string, policy: RetryBudgetPolicy | undefined): RetryBudget;
  /** The mesh's circuit breaker for a service with these settings (see service-breakers.ts). */
  breakerFor?(service: string, policy: CircuitBreakerPolicy | undefined): FailureRateBreaker;
}

const SERVICE_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

export function meshClient(name: string, options: MeshClientOptions): MeshClient {
  checkServiceName(name);
  const { data, code } = splitClientOptions(options);
  const settings = validateServiceConfig(name, data, `meshClient("${name}")`, 'INVALID_OPTIONS');
  return buildClient(name, settings, code, {});
}

export function checkServiceName(name: string): void {
  if (typeof name !== 'string' || !SERVICE_NAME.test(name)) {
    throw new MeshError('INVALID_OPTIONS', `meshClient(${JSON.stringify(name)}): a service name is a DNS-like name such as "reviews" or "reviews.default"`);
  }
}

/** Builds a client from validated settings; createMesh uses this for every configured service. */
export function buildClient(name: string, settings: ServiceSettings, code: ClientCodeOptions, env: ClientEnvironment): MeshClient {
  const clock = code.clock ?? systemClock;
  const random = code.random ?? systemRandom;
  const logger = code.logger ?? silentLogger;
  const metrics = code.metrics === false ? undefined : (code.metrics ?? new MeshMetrics());
  const counters = new Counters(metrics ? (event, by) => metrics.stackEvent(name, event, by) : undefined);
  const deps: BalancerDeps = { clock, random, logger, onEjected: () => counters.inc('endpoints_ejected_total'), onDiscoveryError: () => counters.inc('discovery_errors_total') };
  if (env.baseDir) deps.baseDir = env.baseDir;
  if (code.identity) deps.identity = code.identity;

  const ownDiscovery = (settings.endpoints ?? settings.discovery) as DiscoverySpec;
  const own = endpointBalancer(name, ownDiscovery, settings, deps);
  const canonical = new Map<string, string>();
  const serviceOf = (destination: string): string => {
    let service = canonical.get(destination);
    if (service === undefined) {
      service = destination === name ? name : (env.serviceFor?.(destination) ?? destination);
      canonical.set(destination, service);
    }
    return service;
  };
  const subsetsOf = (service: string) => (service === name ? settings.subsets : env.subsetsOf?.(service));
  checkSubsetReferences(name, settings, (destination) => subsetsOf(serviceOf(destination)));
  const destinations = new Destinations(
    name,
    own,
    (destination) => endpointBalancer(destination, env.discoveryOf?.(destination) ?? authorityDiscovery(destination), settings, deps, subsetsOf(destination)),
    serviceOf,
  );

  const policy = settings.policy;
  const retries = policy.retries ?? {};
  const retryBudget = retries === false ? undefined : (env.retryBudgetFor?.(name, retries.budget) ?? new RetryBudget(retries.budget, clock));
  const breakerPolicy = policy.circuitBreaker;
  const circuitBreaker = breakerPolicy === false ? undefined : (env.breakerFor?.(name, breakerPolicy) ?? new FailureRateBreaker(breakerOptions(breakerPolicy ?? {}), clock.now()));
  let breaker: CircuitBreakerService | undefined;
  let stopLimitGauge: (() => void) | undefined;
  const stack = code.stack ? code.stack(defaultClientStack()) : defaultClientStack();
  // What the policy sets comes from the modules' own declarations; the rest is this client's.
  const params = Params.empty
    .with(ServiceName, name)
    .with(ClockParam, clock)
    .with(RandomParam, random)
    .with(LoggerParam, logger)
    .with(CountersParam, counters)
    .with(MetricsParam, metrics)
    .with(DirectionParam, code.direction ?? 'outbound')
    .with(RetryBudgetParam, retryBudget)
    .with(SharedBreakerParam, circuitBreaker)
    .with(OnBreakerBuiltParam, (built) => (breaker = built))
    .with(OnAdaptiveLimitParam, (currentLimit) => (stopLimitGauge = metrics?.trackConcurrencyLimit(name, currentLimit)))
    // Copies go where a split sends an attempt, below every policy of the caller's.
    .with(MirrorTargetParam, destinations)
    .with(TracerProviderParam, code.tracerProvider)
    .withPolicy(policy, stack.params());
  const service: HttpService = stack.build(params, destinations);

  let closed = false;
  const client: MeshClient = {
    name,
    stack,
    settings,
    metrics,
    registry: (metrics ?? new MeshMetrics()).registry,
    dispatcher: undefined as unknown as Dispatcher,
    request(req) {
      if (closed) return Promise.reject(new MeshError('CLIENT_CLOSED', `client for service "${name}" is closed; create a new one`, { service: name }));
      if (req.method === undefined) req.method = 'GET';
      return service.call(req as MeshRequest, newCallContext(name, req.signal));
    },
    fetch(path, init) {
      return undiciFetch(`http://${name}${path.startsWith('/') ? path : `/${path}`}`, { ...init, dispatcher: client.dispatcher });
    },
    endpoints: () => own.endpoints(),
    counters: () => counters.snapshot(),
    status: () => ({
      breaker: breaker && { state: breaker.state(), probeInMs: breaker.probeAt() === undefined ? undefined : Math.max(0, breaker.probeAt()! - clock.now()) },
      destinations: destinations.destinations().map(([destination, service]) => ({ destination, endpoints: (service as EndpointBalancer).endpoints() })),
    }),
    retryBudget,
    circuitBreaker,
    async close() {
      if (closed) return;
      closed = true;
      stopLimitGauge?.();
      await service.close();
    },
  };
  (client as { dispatcher: Dispatcher }).dispatcher = new MeshDispatcher(() => client);
  return client;
}

/**
 * Every subset a split (the service's or a route's) names must be one of its
 * destination's subsets: a request must never find out that its destination has no such subset.
 */
function checkSubsetReferences(name: string, settings: ServiceSettings, subsetsOf: (destination: string) => Record<string, unknown> | undefined): void {
  const policy = settings.policy;
  const references: { where: string; service: string; subset: string }[] = [];
  policy.split?.forEach((d, i) => d.subset !== undefined && references.push({ where: `split[${i}]`, service: d.service, subset: d.subset }));
  policy.routes?.forEach((route, r) => {
    route.split?.forEach((d, i) => d.subset !== undefined && references.push({ where: `routes[${r}] ("${route.name}").split[${i}]`, service: d.service, subset: d.subset }));
  });
  for (const { where, service, subset } of references) {
    const known = subsetsOf(service);
    if (known?.[subset] !== undefined) continue;
    throw new MeshError('INVALID_CONFIG', `service "${name}": ${where} names subset "${subset}" of "${service}", which ${known ? `has only the subsets ${Object.keys(known).join(', ') || '(none)'}` : 'defines no subsets'}; define it under that service's subsets`, { service: name });
  }
}

/**
 * A split destination that is not a service of this mesh is an authority, as in Linkerd's
 * dstOverrides (`reviews-v2.default.svc.cluster.local:9080`): resolve it by DNS, port 80 by default.
 */
export function authorityDiscovery(authority: string): DiscoverySpec {
  return /:\d+$/.test(authority) ? `dns:${authority}` : `dns:${authority}:80`;
}

export type { MeshResponse };

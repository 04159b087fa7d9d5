/** What the summary reads of a client (a meshClient is one). */
export interface SummarizedClient {
  readonly name: string;
  status(): {
    breaker: { state: BreakerState; probeInMs: number | undefined } | undefined;
    destinations: { destination: string; endpoints: EndpointStatus[] }[];
  };
  readonly retryBudget: RetryBudget | undefined;
}

/**
 * The admin's JSON summary: what `mesh-sidecar stat`, `routes` and the dashboard show. Traffic
 * figures come from MeshStats' windows (success rate, requests per second, p50 / p95 / p99, and
 * retries, faults and refusals per second from the stack events); the state of each service's
 * stack (breaker, retry budget, endpoints with their load and ejection) is read from its client
 * at the moment of the summary.
 */
import type { EndpointStatus } from '../balancer/endpoint-status.js';
import type { BreakerState } from '../policy/failure-rate-breaker.js';
import type { RetryBudget } from '../policy/retry-budget.js';
import type { Direction } from '../telemetry/mesh-metrics.js';
import { DEFAULT_ROUTE } from '../telemetry/mesh-metrics.js';
import type { StatsReading, Traffic } from './mesh-stats.js';
import { LatencyHistogram } from '../policy/latency-histogram.js';

export interface TrafficSummary {
  requests: number;
  /** Successes out of all requests in the window, 0 to 1; null without requests. */
  successRate: number | null;
  rps: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

export interface RouteSummary extends TrafficSummary {
  /** The route's name; `default` (Linkerd's default route) for requests that matched none. */
  route: string;
}

export interface EndpointSummary {
  /** The service or authority whose endpoint this is: the service itself, or a traffic-split destination. */
  destination: string;
  address: string;
  pending: number;
  /** The peak-EWMA latency estimate, ms (p2c-ewma balancers only). */
  ewmaMs: number | null;
  ejected: boolean;
  ejectedForMs: number;
}

export interface ServiceSummary extends TrafficSummary {
  direction: Direction;
  /** The service (outbound) or the authority callers addressed (inbound). */
  name: string;
  retries: {
    perSecond: number;
    budgetExhaustedPerSecond: number;
    /** The retry budget now: how many retries it would allow, and its settings. */
    budget: { available: number; retryRatio: number; minRetriesPerSecond: number; ttlMs: number } | null;
  };
  breaker: { state: BreakerState; probeInMs: number | null } | null;
  /** Injected faults (aborts and delays) per second. */
  faultsPerSecond: number;
  /** Requests refused by the concurrency or rate limit, per second. */
  limitedPerSecond: number;
  timeoutsPerSecond: number;
  /** Inbound requests refused by the authorization policy, per second. */
  deniedPerSecond: number;
  routes: RouteSummary[];
  endpoints: EndpointSummary[];
}

export interface EdgeSummary {
  from: string;
  to: string;
  requests: number;
  successRate: number | null;
  rps: number;
}

export interface MeshSummary {
  /** This process in the topology: its SPIFFE ID, or a name. */
  self: string;
  windowMs: number;
  /** The time the figures cover, ms: the window, or less while the process is younger. */
  coveredMs: number;
  services: ServiceSummary[];
  /** Who calls whom: inbound callers (by verified identity) to this process, and this process to each outbound authority. */
  edges: EdgeSummary[];
  tap: { enabled: boolean };
  /** Requests left out of the figures because too many distinct authorities or routes were seen. */
  untracked: number;
}

/** What the summary reads of a mesh; `createMesh()`'s Mesh is one. */
export interface SummarySource {
  services(): string[];
  client(name: string): SummarizedClient;
}

/** Name of the inbound callers that proved no identity. */
export const UNAUTHENTICATED = '(unauthenticated)';

export function summarize(reading: StatsReading, source: SummarySource, self: string, tapEnabled: boolean): MeshSummary {
  const seconds = reading.coveredMs / 1000;
  const perSecond = (n: number) => (seconds > 0 ? round(n / seconds, 3) : 0);
  const traffic = (t: Traffic): TrafficSummary => ({
    requests: t.requests,
    successRate: t.requests === 0 ? null : round(t.successes / t.requests, 4),
    rps: perSecond(t.requests),
    latencyMs: { p50: quantile(t.latency, 0.5), p95: quantile(t.latency, 0.95), p99: quantile(t.latency, 0.99) },
  });

  const services = new Map<string, { direction: Direction; name: string; routes: Map<string, Traffic> }>();
  const entry = (direction: Direction, name: string) => {
    const key = `${direction} ${name}`;
    let found = services.get(key);
    if (found === undefined) {
      found = { direction, name, routes: new Map() };
      services.set(key, found);
    }
    return found;
  };
  const clients = new Map<string, ReturnType<SummarySource['client']>>();
  for (const id of source.services()) {
    const client = source.client(id);
    clients.set(client.name, client);
    entry('outbound', client.name);
  }
  for (const route of reading.routes) entry(route.direction, route.authority).routes.set(route.route, route);

  const summaries: ServiceSummary[] = [];
  for (const { direction, name, routes } of services.values()) {
    const total: Traffic = { requests: 0, successes: 0, latency: new LatencyHistogram() };
    for (const t of routes.values()) {
      total.requests += t.requests;
      total.successes += t.successes;
      total.latency.add(t.latency);
    }
    const events = reading.events.get(name);
    const rate = (...names: string[]) => perSecond(names.reduce((sum, n) => sum + (events?.get(n) ?? 0), 0));
    const client = direction === 'outbound' ? clients.get(name) : undefined;
    const status = client?.status();
    const budget = client?.retryBudget;
    summaries.push({
      direction,
      name,
      ...traffic(total),
      retries: {
        perSecond: rate('retries_total'),
        budgetExhaustedPerSecond: rate('retry_budget_exhausted_total'),
        budget: budget ? { available: budget.available(), retryRatio: budget.retryRatio, minRetriesPerSecond: budget.minRetriesPerSecond, ttlMs: budget.ttlMs } : null,
      },
      breaker: status?.breaker ? { state: status.breaker.state, probeInMs: status.breaker.probeInMs ?? null } : null,
      faultsPerSecond: rate('faults_aborted_total', 'faults_delayed_total'),
      limitedPerSecond: rate('concurrency_limited_total', 'rate_limited_total'),
      timeoutsPerSecond: rate('timeouts_total'),
      deniedPerSecond: rate('inbound_denied_total'),
      routes: [...routes]
        .sort(([a], [b]) => Number(a === DEFAULT_ROUTE) - Number(b === DEFAULT_ROUTE) || a.localeCompare(b))
        .map(([route, t]) => ({ route, ...traffic(t) })),
      endpoints: (status?.destinations ?? []).flatMap(({ destination, endpoints }) =>
        endpoints.map((e) => ({ destination, address: e.endpoint, pending: e.pending, ewmaMs: e.ewmaMs === undefined ? null : round(e.ewmaMs, 3), ejected: e.ejected, ejectedForMs: Math.round(e.ejectedForMs) })),
      ),
    });
  }
  summaries.sort((a, b) => a.direction.localeCompare(b.direction) || a.name.localeCompare(b.name));

  const edges: EdgeSummary[] = [];
  const callers = new Map<string, { requests: number; successes: number }>();
  for (const caller of reading.callers) {
    const from = caller.clientId ?? UNAUTHENTICATED;
    const sum = callers.get(from) ?? { requests: 0, successes: 0 };
    sum.requests += caller.requests;
    sum.successes += caller.successes;
    callers.set(from, sum);
  }
  for (const [from, { requests, successes }] of [...callers].sort(([a], [b]) => a.localeCompare(b))) {
    if (requests > 0) edges.push({ from, to: self, requests, successRate: round(successes / requests, 4), rps: perSecond(requests) });
  }
  for (const s of summaries) {
    if (s.direction === 'outbound' && s.requests > 0) edges.push({ from: self, to: s.name, requests: s.requests, successRate: s.successRate, rps: s.rps });
  }
  return { self, windowMs: reading.windowMs, coveredMs: Math.round(reading.coveredMs), services: summaries, edges, tap: { enabled: tapEnabled }, untracked: reading.untracked };
}

function quantile(histogram: LatencyHistogram, q: number): number | null {
  const value = histogram.quantile(q);
  return value === undefined ? null : round(value, 3);
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * The golden metrics — requests, responses by status and classification, latency — under Linkerd's
 * names and labels (`request_total`, `response_total`, `response_latency_ms`, with `direction` and
 * `authority`), so existing Linkerd dashboards and alerts read a meshwork process or sidecar as they
 * are. What the stack itself does (retries, budget exhaustion, breaker and fault events, ejections)
 * is counted as `meshwork_<event>_total{authority}`.
 *
 * Each MeshMetrics owns a prom-client Registry rather than using prom-client's global one, so two
 * meshes (or a mesh and the application's own metrics) never collide on a name.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { FastCounter, FastHistogram, type HistogramSeries } from './fast-metrics.js';
import { RequestObserver } from './request-observer.js';

import type { PeerLabels } from './metric-labels.js';
export type { Classification, Direction, PeerLabels } from './metric-labels.js';
import type { Classification, Direction } from './metric-labels.js';

/** Linkerd's latency buckets, in milliseconds. */
export const LATENCY_BUCKETS_MS = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 10_000, 20_000, 30_000, 40_000, 50_000];

/** The route label of a request that matched no route (Linkerd's "default route"). */
export const DEFAULT_ROUTE = 'default';

/** Help texts for the stack events filters count; an event not listed here still gets a metric. */
const STACK_EVENT_HELP: Record<string, string> = {
  retries_total: 'Retries sent (attempts after the first).',
  retry_budget_exhausted_total: 'Retries not sent because the retry budget was spent.',
  retry_skipped_body_too_large_total: 'Retries not sent because the request body was too large to replay.',
  retry_skipped_deadline_total: 'Retries not sent because the deadline would pass first.',
  breaker_open_total: 'Times the circuit breaker opened.',
  breaker_rejected_total: 'Requests refused at once because the circuit breaker was open.',
  concurrency_limited_total: 'Requests refused by the concurrency limit (fixed or adaptive).',
  mirrors_total: 'Copies of requests sent to a mirror destination.',
  mirror_dropped_total: 'Copies not sent because the mirror had maxInFlight copies in flight.',
  mirror_skipped_body_total: 'Copies not sent because the request body was a stream longer than the retry buffer or of unknown length.',
  mirror_failures_total: 'Copies that failed or got a failure response (the caller never sees these).',
  hedges_total: 'Backup attempts sent by hedging.',
  hedge_wins_total: 'Hedged requests answered by the backup attempt.',
  hedge_budget_exhausted_total: 'Backup attempts not sent because the retry budget was spent.',
  rate_limited_total: 'Requests refused by the rate limit.',
  faults_aborted_total: 'Requests answered by an injected abort fault.',
  faults_delayed_total: 'Requests delayed by an injected delay fault.',
  timeouts_total: 'Requests that hit their total timeout.',
  per_try_timeouts_total: 'Attempts that hit their per-try timeout.',
  endpoints_ejected_total: 'Endpoints ejected by outlier detection.',
  discovery_errors_total: 'Failed discovery attempts (API server, DNS or endpoint file); the last known endpoints stay in use meanwhile.',
  inbound_denied_total: 'Inbound requests refused with 403 by the authorization policy.',
};


function peerLabels(peer: PeerLabels | undefined): { tls?: string; client_id?: string } {
  if (!peer) return {};
  return peer.clientId ? { tls: String(peer.tls), client_id: peer.clientId } : { tls: String(peer.tls) };
}

/** The response series of one label set: a counter and a latency histogram. */
interface ResponseSeries {
  total: { value: number };
  latency: HistogramSeries;
}

/** The statuses gRPC defines (OK to UNAUTHENTICATED): their series are found by index. */
const GRPC_STATUS_COUNT = 17;

/**
 * The golden series of one (direction, authority, route, caller): found once per request by nested
 * map lookups (no key string is built on the request path), then bumped. gRPC calls count in the
 * series of their method, with the response series of each `grpc_status` found by index.
 */
export class RouteMetrics {
  readonly #metrics: MeshMetrics;
  readonly #labels: Record<string, string>;
  readonly #requests: { value: number };
  readonly #responses = new Map<number, ResponseSeries>();
  #byGrpcStatus: (ResponseSeries | undefined)[] | undefined = undefined;

  constructor(metrics: MeshMetrics, labels: Record<string, string>, requests: { value: number }) {
    this.#metrics = metrics;
    this.#labels = labels;
    this.#requests = requests;
  }

  started(): void {
    this.#requests.value++;
  }

  /** A response arrived: counted and its latency observed. */
  responded(statusCode: number, classification: Classification, latencyMs: number): void {
    const key = statusCode * 2 + (classification === 'failure' ? 1 : 0);
    let series = this.#responses.get(key);
    if (series === undefined) {
      series = this.#metrics.responseSeries({ ...this.#labels, status_code: String(statusCode), classification });
      this.#responses.set(key, series);
    }
    series.total.value++;
    series.latency.observe(latencyMs);
  }

  /** A gRPC call ended with `grpcStatus` (OK is a success, any other status a failure). */
  grpcEnded(grpcStatus: number, latencyMs: number): void {
    const known = grpcStatus >= 0 && grpcStatus < GRPC_STATUS_COUNT && Number.isInteger(grpcStatus);
    // A status gRPC does not define (a misbehaving server may send any number) is looked up by key each time.
    let series = known ? this.#byGrpcStatus?.[grpcStatus] : undefined;
    if (series === undefined) {
      series = this.#metrics.grpcResponseSeries(this.#labels, grpcStatus);
      if (known) (this.#byGrpcStatus ??= new Array<ResponseSeries | undefined>(GRPC_STATUS_COUNT).fill(undefined))[grpcStatus] = series;
    }
    series.total.value++;
    series.latency.observe(latencyMs);
  }

  /** The request failed without a response: `error` says why. */
  failed(error: string): void {
    this.#metrics.failedSeries({ ...this.#labels, classification: 'failure', error }).value++;
  }
}

export class MeshMetrics {
  readonly registry: Registry;
  /** Told about every finished request and stack event recorded here, while anything listens. */
  readonly observer = new RequestObserver();
  readonly #requests: FastCounter;
  readonly #responses: FastCounter;
  readonly #latency: FastHistogram;
  readonly #stackEvents = new Map<string, Counter<'authority'>>();
  readonly #routes = new Map<string, Map<string, Map<string, RouteMetrics>>>();
  /** Per authority, how to read its adaptive concurrency limit; the gauge reads them at scrape time. */
  readonly #concurrencyLimits = new Map<string, () => number>();
  #concurrencyLimitGauge: Gauge<'authority'> | undefined = undefined;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.#requests = new FastCounter('request_total', 'Requests started, by direction, authority (the service) and route.', registry);
    this.#responses = new FastCounter('response_total', 'Responses (or failures without one), by status code and classification.', registry);
    this.#latency = new FastHistogram('response_latency_ms', 'Time from the request to the response headers, in milliseconds.', LATENCY_BUCKETS_MS, registry);
    for (const event of Object.keys(STACK_EVENT_HELP)) this.#stackEventCounter(event);
  }

  /** The series a request counts in; keep it for the request's response. */
  route(direction: Direction, authority: string, route: string | undefined, peer?: PeerLabels): RouteMetrics {
    const caller = peer === undefined ? direction : `${direction}\u0000${peer.tls}\u0000${peer.clientId ?? ''}`;
    let byAuthority = this.#routes.get(caller);
    if (byAuthority === undefined) this.#routes.set(caller, (byAuthority = new Map()));
    let byRoute = byAuthority.get(authority);
    if (byRoute === undefined) byAuthority.set(authority, (byRoute = new Map()));
    const routeLabel = route ?? DEFAULT_ROUTE;
    let metrics = byRoute.get(routeLabel);
    if (metrics === undefined) {
      const labels = { direction, authority, route: routeLabel, ...peerLabels(peer) };
      const key = `${direction}\u0000${authority}\u0000${routeLabel}${peer ? `\u0000${peer.tls}\u0000${peer.clientId ?? ''}` : ''}`;
      metrics = new RouteMetrics(this, labels, this.#requests.series(key, labels));
      byRoute.set(routeLabel, metrics);
    }
    return metrics;
  }

  /** @internal The response series for a full label set (RouteMetrics caches what this returns). */
  responseSeries(labels: Record<string, string>): ResponseSeries {
    const key = Object.values(labels).join('\u0000');
    return { total: this.#responses.series(key, labels), latency: this.#latency.series(key, labels) };
  }

  /** @internal */
  failedSeries(labels: Record<string, string>): { value: number } {
    return this.#responses.series(`failed\u0000${Object.values(labels).join('\u0000')}`, labels);
  }

  /** @internal The response series of a gRPC route's status (RouteMetrics caches what this returns). */
  grpcResponseSeries(routeLabels: Record<string, string>, grpcStatus: number): ResponseSeries {
    const labels = { ...routeLabels, grpc_status: String(grpcStatus), classification: grpcStatus === 0 ? 'success' : 'failure' };
    const key = `grpc\u0000${Object.values(labels).join('\u0000')}`;
    return { total: this.#responses.series(key, labels), latency: this.#latency.series(key, labels) };
  }

  /** Counts a request; code on the request path keeps `route(...)`'s series instead. */
  requestStarted(direction: Direction, authority: string, route: string | undefined, peer?: PeerLabels): void {
    this.route(direction, authority, route, peer).started();
  }

  /** A gRPC call ended: counted with its `grpc_status`, and its latency observed. Code on the call path keeps `route(...)`'s series instead. */
  grpcResponded(direction: Direction, authority: string, route: string, grpcStatus: number, latencyMs: number): void {
    this.route(direction, authority, route).grpcEnded(grpcStatus, latencyMs);
  }

  /**
   * Exports `read()` as `meshwork_concurrency_limit{authority}`, read at each scrape so that the
   * request path never touches the gauge. Returns the way to stop (a client closing); a newer
   * client of the same authority (a reload) replaces the older one's reader.
   */
  trackConcurrencyLimit(authority: string, read: () => number): () => void {
    const limits = this.#concurrencyLimits;
    this.#concurrencyLimitGauge ??= new Gauge({
      name: 'meshwork_concurrency_limit',
      help: 'The adaptive concurrency limit now (limits.adaptive): requests allowed in flight to the service.',
      labelNames: ['authority'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [name, current] of limits) this.set({ authority: name }, current());
      },
    });
    limits.set(authority, read);
    return () => {
      if (limits.get(authority) === read) limits.delete(authority);
    };
  }

  /** Counts one stack event (`retries_total`, ...) as `meshwork_<event>{authority}`. */
  stackEvent(authority: string, event: string, by = 1): void {
    this.#stackEventCounter(event).inc({ authority }, by);
    if (this.observer.active) this.observer.stackEvent(authority, event, by);
  }

  #stackEventCounter(event: string): Counter<'authority'> {
    let counter = this.#stackEvents.get(event);
    if (counter === undefined) {
      const name = `meshwork_${event.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      counter = new Counter({ name, help: STACK_EVENT_HELP[event] ?? `Stack event ${event}.`, labelNames: ['authority'], registers: [this.registry] });
      this.#stackEvents.set(event, counter);
    }
    return counter;
  }
}

/**
 * The admin's live numbers, computed from the stack's own events rather than by scraping the
 * Prometheus text: every finished request (RequestObserver) lands in a rolling window per direction,
 * authority and route (count, successes, latency histogram), every stack event (retries, faults,
 * refusals) in a rolling window per authority, and every inbound request also per calling identity,
 * for the topology. Reads sum the windows on the injected clock.
 *
 * Keys come partly from callers (an inbound Host header names the authority), so their number is
 * capped: past the cap new keys are not tracked (and counted as such), while known keys go on.
 */
import type { Clock } from '../core/clock.js';
import { DEFAULT_ROUTE, type Direction } from '../telemetry/mesh-metrics.js';
import type { CompletedRequest, RequestListener } from '../telemetry/request-observer.js';
import { LatencyHistogram } from '../policy/latency-histogram.js';
import { RollingWindow, windowCoverage, type Slice } from '../policy/rolling-window.js';

export { DEFAULT_STATS_WINDOW_MS } from '../config/admin-schema.js';
import { DEFAULT_STATS_WINDOW_MS } from '../config/admin-schema.js';
const MAX_KEYS = 1_000;

export interface Traffic {
  requests: number;
  successes: number;
  latency: LatencyHistogram;
}

const trafficSlice: Slice<Traffic> = {
  make: () => ({ requests: 0, successes: 0, latency: new LatencyHistogram() }),
  reset(slice) {
    slice.requests = 0;
    slice.successes = 0;
    slice.latency.clear();
  },
  merge(into, from) {
    into.requests += from.requests;
    into.successes += from.successes;
    into.latency.add(from.latency);
  },
};

type Counts = Map<string, number>;
const countsSlice: Slice<Counts> = {
  make: () => new Map(),
  reset: (slice) => slice.clear(),
  merge(into, from) {
    for (const [name, n] of from) into.set(name, (into.get(name) ?? 0) + n);
  },
};

export interface RouteTraffic extends Traffic {
  direction: Direction;
  authority: string;
  route: string;
}

export interface CallerTraffic {
  /** The caller's verified identity, or undefined for an unauthenticated caller. */
  clientId: string | undefined;
  authority: string;
  requests: number;
  successes: number;
}

export interface StatsReading {
  windowMs: number;
  /** The time the reading covers, ms: the window, or less while the process is younger. */
  coveredMs: number;
  routes: RouteTraffic[];
  /** Stack events in the window, by authority, then by event name (`retries_total`, ...). */
  events: Map<string, Counts>;
  /** Inbound requests by calling identity. */
  callers: CallerTraffic[];
  /** Requests not tracked because too many distinct keys were seen. */
  untracked: number;
}

interface Tracked<S, K> {
  key: K;
  window: RollingWindow<S>;
}

export class MeshStats implements RequestListener {
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #routes = new Map<string, Tracked<Traffic, { direction: Direction; authority: string; route: string }>>();
  readonly #callers = new Map<string, Tracked<Counts, { clientId: string | undefined; authority: string }>>();
  readonly #events = new Map<string, RollingWindow<Counts>>();
  readonly #startedAt: number;
  #untracked = 0;

  constructor(clock: Clock, windowMs = DEFAULT_STATS_WINDOW_MS) {
    this.#clock = clock;
    this.windowMs = windowMs;
    this.#startedAt = clock.now();
  }

  completed(event: CompletedRequest): void {
    const route = event.route ?? DEFAULT_ROUTE;
    const routeKey = `${event.direction}\u0000${event.authority}\u0000${route}`;
    const tracked = this.#track(this.#routes, routeKey, trafficSlice, () => ({ direction: event.direction, authority: event.authority, route }));
    if (tracked === undefined) return;
    const slice = tracked.window.current();
    slice.requests++;
    if (event.classification === 'success') slice.successes++;
    slice.latency.record(event.latencyMs);
    if (event.direction !== 'inbound') return;
    const clientId = event.peer?.clientId;
    const caller = this.#track(this.#callers, `${event.authority}\u0000${clientId ?? ''}`, countsSlice, () => ({ clientId, authority: event.authority }));
    if (caller === undefined) return;
    const counts = caller.window.current();
    counts.set('requests', (counts.get('requests') ?? 0) + 1);
    if (event.classification === 'success') counts.set('successes', (counts.get('successes') ?? 0) + 1);
  }

  stackEvent(authority: string, event: string, by: number): void {
    let window = this.#events.get(authority);
    if (window === undefined) {
      if (this.#events.size >= MAX_KEYS) return;
      window = new RollingWindow(this.windowMs, countsSlice, this.#clock, this.#startedAt);
      this.#events.set(authority, window);
    }
    const counts = window.current();
    counts.set(event, (counts.get(event) ?? 0) + by);
  }

  read(): StatsReading {
    const coveredMs = windowCoverage(this.#clock.now(), this.windowMs, this.#startedAt);
    const routes: RouteTraffic[] = [];
    for (const { key, window } of this.#routes.values()) {
      const traffic = trafficSlice.make();
      window.sum(traffic);
      routes.push({ ...key, ...traffic });
    }
    const events = new Map<string, Counts>();
    for (const [authority, window] of this.#events) {
      const counts = countsSlice.make();
      window.sum(counts);
      events.set(authority, counts);
    }
    const callers: CallerTraffic[] = [];
    for (const { key, window } of this.#callers.values()) {
      const counts = countsSlice.make();
      window.sum(counts);
      callers.push({ ...key, requests: counts.get('requests') ?? 0, successes: counts.get('successes') ?? 0 });
    }
    return { windowMs: this.windowMs, coveredMs, routes, events, callers, untracked: this.#untracked };
  }

  #track<S, K>(map: Map<string, Tracked<S, K>>, id: string, kind: Slice<S>, key: () => K): Tracked<S, K> | undefined {
    let tracked = map.get(id);
    if (tracked === undefined) {
      if (map.size >= MAX_KEYS) {
        this.#untracked++;
        return undefined;
      }
      tracked = { key: key(), window: new RollingWindow(this.windowMs, kind, this.#clock, this.#startedAt) };
      map.set(id, tracked);
    }
    return tracked;
  }
}

/**
 * Tap: requests as they complete, streamed to whoever subscribes (the admin's /api/tap, hence
 * `mesh-sidecar tap`, `top` and the dashboard). The bus listens to the RequestObserver only while
 * it has subscribers, so an idle tap costs the request path nothing.
 *
 * A busy process must not be slowed by being watched: each subscriber's filter runs first (on fields
 * already there), then its token bucket (`maxEventsPerSecond`, on the injected clock), and only then
 * is an event copied out, headers included and credentials left out (tap-headers.ts). A subscriber
 * whose connection cannot keep up is not buffered for: its events are skipped, and how many were
 * skipped, and why, is told to it with the next event it does get.
 */
import type { Clock } from '../core/clock.js';
import { DEFAULT_ROUTE, type Classification, type Direction } from '../telemetry/mesh-metrics.js';
import type { CompletedRequest, RequestObserver } from '../telemetry/request-observer.js';
import { tapMatcher, type TapFilter } from './tap-filter.js';
import { redactedNames, requestHeaders, responseHeaders, type TapHeaders } from './tap-headers.js';

export { TAP_DEFAULTS, type TapSettings } from '../config/admin-schema.js';
import type { TapSettings } from '../config/admin-schema.js';

export interface TapEvent {
  type: 'request';
  /** Counts up from 1 for each event this process's tap has sent anyone. */
  id: number;
  /** When the request finished (response headers, or the failure), ISO 8601. */
  time: string;
  direction: Direction;
  service: string;
  authority: string;
  method: string;
  path: string;
  /** The matched route, `default` when none matched. */
  route: string;
  endpoint: string | null;
  statusCode: number | null;
  grpcStatus: number | null;
  classification: Classification;
  error: string | null;
  latencyMs: number;
  attempts: number;
  /** Inbound: whether the caller came over mTLS, and its verified identity. */
  tls: boolean | null;
  clientId: string | null;
  requestHeaders: TapHeaders;
  responseHeaders: TapHeaders;
}

/** Events a subscriber did not get since its last event: over its rate, or while its connection was full. */
export interface TapSkipped {
  type: 'skipped';
  rateLimited: number;
  slowReader: number;
}

export interface TapSubscriber {
  /** Hands an event over; false when the connection is too full to take it (it is then skipped). */
  send(message: TapEvent | TapSkipped): boolean;
  /** The tap ended for this subscriber (turned off by a config reload, or the bus closed). */
  end(reason: string): void;
}

interface Subscription {
  matches(event: CompletedRequest): boolean;
  subscriber: TapSubscriber;
  ratePerMs: number;
  burst: number;
  tokens: number;
  refilledAt: number;
  rateLimited: number;
  slowReader: number;
}

export class TapBus {
  readonly #observer: RequestObserver;
  readonly #clock: Clock;
  readonly #settings: () => TapSettings;
  #subscriptions: Subscription[] = [];
  #stopListening: (() => void) | undefined;
  #nextId = 1;
  /** The names never shown, per settings object (a reload brings a new one). */
  readonly #redacted = new WeakMap<TapSettings, ReadonlySet<string>>();

  constructor(observer: RequestObserver, clock: Clock, settings: () => TapSettings) {
    this.#observer = observer;
    this.#clock = clock;
    this.#settings = settings;
  }

  get enabled(): boolean {
    return this.#settings().enabled;
  }

  get subscribers(): number {
    return this.#subscriptions.length;
  }

  /** Starts sending `subscriber` the requests that match; the returned function stops. */
  subscribe(filter: TapFilter, subscriber: TapSubscriber, options: { maxEventsPerSecond?: number } = {}): () => void {
    const limit = Math.min(options.maxEventsPerSecond ?? Infinity, this.#settings().maxEventsPerSecond);
    const subscription: Subscription = {
      matches: tapMatcher(filter),
      subscriber,
      ratePerMs: limit / 1000,
      burst: Math.max(1, limit),
      tokens: Math.max(1, limit),
      refilledAt: this.#clock.now(),
      rateLimited: 0,
      slowReader: 0,
    };
    this.#subscriptions = [...this.#subscriptions, subscription];
    this.#stopListening ??= this.#observer.listen({ completed: (event) => this.#publish(event) });
    return () => this.#unsubscribe(subscription);
  }

  /** Ends every subscription. */
  close(reason = 'the admin server is closing'): void {
    for (const subscription of this.#subscriptions) {
      this.#unsubscribe(subscription);
      subscription.subscriber.end(reason);
    }
  }

  #publish(completed: CompletedRequest): void {
    const settings = this.#settings();
    if (!settings.enabled) {
      this.close('tap was turned off in the config');
      return;
    }
    let event: TapEvent | undefined;
    const now = this.#clock.now();
    for (const subscription of this.#subscriptions) {
      try {
        event = this.#offer(subscription, completed, event, settings, now);
      } catch {
        // A subscriber that fails is dropped; the others, and the request, go on.
        this.#unsubscribe(subscription);
      }
    }
  }

  /** Sends the event to one subscriber if it matches and fits its rate; returns the event once built. */
  #offer(subscription: Subscription, completed: CompletedRequest, built: TapEvent | undefined, settings: TapSettings, now: number): TapEvent | undefined {
    if (!subscription.matches(completed)) return built;
    subscription.tokens = Math.min(subscription.burst, subscription.tokens + (now - subscription.refilledAt) * subscription.ratePerMs);
    subscription.refilledAt = now;
    if (subscription.tokens < 1) {
      subscription.rateLimited++;
      return built;
    }
    subscription.tokens -= 1;
    const event = built ?? this.#event(completed, settings);
    const { subscriber } = subscription;
    if (subscription.rateLimited > 0 || subscription.slowReader > 0) {
      if (!subscriber.send({ type: 'skipped', rateLimited: subscription.rateLimited, slowReader: subscription.slowReader })) {
        subscription.slowReader++;
        return event;
      }
      subscription.rateLimited = 0;
      subscription.slowReader = 0;
    }
    if (!subscriber.send(event)) subscription.slowReader++;
    return event;
  }

  #event(e: CompletedRequest, settings: TapSettings): TapEvent {
    let redacted = this.#redacted.get(settings);
    if (redacted === undefined) {
      redacted = redactedNames(settings.redactHeaders);
      this.#redacted.set(settings, redacted);
    }
    return {
      type: 'request',
      id: this.#nextId++,
      time: new Date(this.#clock.wallNow()).toISOString(),
      direction: e.direction,
      service: e.service,
      authority: e.authority,
      method: e.request.method,
      path: e.request.path,
      route: e.route ?? DEFAULT_ROUTE,
      endpoint: e.endpoint ?? null,
      statusCode: e.statusCode ?? null,
      grpcStatus: e.grpcStatus ?? null,
      classification: e.classification,
      error: e.error ?? null,
      latencyMs: Math.round(e.latencyMs * 1000) / 1000,
      attempts: e.attempts,
      tls: e.peer ? e.peer.tls : null,
      clientId: e.peer?.clientId ?? null,
      requestHeaders: requestHeaders(e.request.headers, redacted),
      responseHeaders: e.response ? responseHeaders(e.response.rawHeaders, redacted) : {},
    };
  }

  #unsubscribe(subscription: Subscription): void {
    this.#subscriptions = this.#subscriptions.filter((s) => s !== subscription);
    if (this.#subscriptions.length === 0 && this.#stopListening) {
      this.#stopListening();
      this.#stopListening = undefined;
    }
  }
}

/**
 * The balancer is the bottom of the client stack: it owns one endpoint service (an undici Pool) per
 * discovered address, keeps that set in step with discovery, and sends each request to the endpoint
 * its picker chooses by load. It never waits on discovery once a first set is known; before that it
 * waits up to `discoveryTimeoutMs` and then fails with a clear error.
 */
import type { Clock } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { CallContext, Service } from '../core/service.js';
import type { Unsubscribe, Watchable } from '../core/watchable.js';
import { endpointKey, type EndpointAddress } from '../discovery/endpoint-address.js';
import type { EndpointLoad, LoadFactory } from './endpoint-load.js';
import { newOutlierState, type OutlierDetector, type OutlierState } from './outlier-detector.js';
import type { Picker } from './picker.js';

export interface BalancedEndpoint<Req, Res> {
  readonly key: string;
  readonly address: EndpointAddress;
  readonly service: Service<Req, Res>;
  readonly load: EndpointLoad;
  readonly outlier: OutlierState;
}

export interface BalancerOptions<Req, Res> {
  service: string;
  clock: Clock;
  picker: Picker;
  newLoad: LoadFactory;
  outlierDetector: OutlierDetector;
  makeEndpoint(address: EndpointAddress): Service<Req, Res>;
  /** Whether a response counts against the endpoint's health (e.g. 5xx, or the route's classes). */
  isFailure(res: Res, ctx: CallContext): boolean;
  /** How long a request may wait for the first endpoint set. */
  discoveryTimeoutMs: number;
  /** Describes where endpoints come from, for error messages. */
  discoveryDescription: string;
  onEjected?(endpoint: string): void;
}

type EndpointSet = readonly EndpointAddress[] | undefined;

export class Balancer<Req, Res> implements Service<Req, Res> {
  readonly #options: BalancerOptions<Req, Res>;
  readonly #source: Watchable<EndpointSet>;
  readonly #unsubscribe: Unsubscribe;
  readonly #byKey = new Map<string, BalancedEndpoint<Req, Res>>();
  #all: BalancedEndpoint<Req, Res>[] = [];
  #ejected = 0;
  #closed = false;
  readonly #draining = new Set<Promise<void>>();
  readonly #costOf: (e: BalancedEndpoint<Req, Res>) => number;

  constructor(source: Watchable<EndpointSet>, options: BalancerOptions<Req, Res>) {
    this.#options = options;
    this.#source = source;
    const clock = options.clock;
    this.#costOf = (e) => e.load.cost(clock.now());
    this.#unsubscribe = source.subscribe((set) => this.#update(set));
    this.#update(source.get());
  }

  /** The endpoints currently known, for admin views and tests. */
  endpoints(): readonly BalancedEndpoint<Req, Res>[] {
    return this.#all;
  }

  isEjected(key: string): boolean {
    const e = this.#byKey.get(key);
    return e !== undefined && this.#options.outlierDetector.isEjected(e.outlier);
  }

  /** How long the endpoint stays ejected, ms; 0 when it is in rotation. */
  ejectionRemainingMs(key: string): number {
    const e = this.#byKey.get(key);
    return e === undefined ? 0 : this.#options.outlierDetector.ejectionRemainingMs(e.outlier);
  }

  call(req: Req, ctx: CallContext): Promise<Res> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#source.get() === undefined) return this.#waitForFirstSet(ctx).then(() => this.#send(req, ctx));
    return this.#send(req, ctx);
  }

  // Then-callbacks rather than async/await: this runs once per request and each await is a hop.
  #send(req: Req, ctx: CallContext): Promise<Res> {
    let endpoint: BalancedEndpoint<Req, Res>;
    try {
      endpoint = this.#pick(ctx);
    } catch (err) {
      return Promise.reject(err);
    }
    const { clock, outlierDetector } = this.#options;
    const startedAt = clock.now();
    endpoint.load.start(startedAt);
    ctx.endpoint = endpoint.key;
    return endpoint.service.call(req, ctx).then(
      (res) => {
        endpoint.load.end(startedAt, clock.now());
        if (this.#options.isFailure(res, ctx)) this.#recordFailure(endpoint);
        else outlierDetector.onSuccess(endpoint.outlier);
        return res;
      },
      (err: unknown) => {
        // Neither the caller giving up nor a request refused before sending says anything about the endpoint.
        const endpointFailed = !ctx.signal?.aborted && (err as { code?: unknown } | null)?.code !== 'INVALID_REQUEST';
        if (endpointFailed && endpoint.load.failed) endpoint.load.failed(startedAt, clock.now());
        else endpoint.load.end(startedAt, clock.now());
        if (endpointFailed) this.#recordFailure(endpoint);
        throw err;
      },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    const closing = this.#all.map((e) => e.service.close());
    this.#all = [];
    this.#byKey.clear();
    await Promise.all([...closing, ...this.#draining]);
  }

  #pick(ctx: CallContext): BalancedEndpoint<Req, Res> {
    const all = this.#all;
    if (all.length === 0) {
      throw new MeshError(
        'NO_ENDPOINTS',
        `service "${this.#options.service}" has no endpoints (discovery: ${this.#options.discoveryDescription}); check that discovery lists at least one`,
        { service: this.#options.service, route: ctx.route },
      );
    }
    if (all.length === 1) return all[0]!;
    let candidates = all;
    if (this.#ejected > 0) {
      const detector = this.#options.outlierDetector;
      const now = this.#options.clock.now();
      const healthy = all.filter((e) => detector.readmitIfDue(e.outlier, now));
      this.#ejected = all.length - healthy.length;
      // Every endpoint ejected: fail open and use them all rather than refuse every request.
      if (healthy.length > 0) candidates = healthy;
    }
    return this.#options.picker.pick(candidates, this.#costOf);
  }

  #recordFailure(endpoint: BalancedEndpoint<Req, Res>): void {
    if (!this.#byKey.has(endpoint.key)) return;
    if (this.#options.outlierDetector.onFailure(endpoint.outlier, this.#all.length, this.#ejected)) {
      this.#ejected++;
      this.#options.onEjected?.(endpoint.key);
    }
  }

  #update(set: EndpointSet): void {
    if (set === undefined || this.#closed) return;
    const wanted = new Map<string, EndpointAddress>();
    for (const address of set) wanted.set(endpointKey(address), address);
    const now = this.#options.clock.now();
    const next: BalancedEndpoint<Req, Res>[] = [];
    for (const [key, address] of wanted) {
      const existing = this.#byKey.get(key);
      if (existing) {
        next.push(existing);
        continue;
      }
      const created: BalancedEndpoint<Req, Res> = {
        key,
        address,
        service: this.#options.makeEndpoint(address),
        load: this.#options.newLoad(now),
        outlier: newOutlierState(),
      };
      this.#byKey.set(key, created);
      next.push(created);
    }
    for (const [key, endpoint] of this.#byKey) {
      if (wanted.has(key)) continue;
      this.#byKey.delete(key);
      // Pool.close() lets in-flight requests finish before the sockets go away.
      const closing = endpoint.service.close().catch(() => undefined);
      this.#draining.add(closing);
      void closing.finally(() => this.#draining.delete(closing));
    }
    this.#all = next;
    this.#ejected = next.filter((e) => e.outlier.ejectedUntil !== 0).length;
  }

  #waitForFirstSet(ctx: CallContext): Promise<void> {
    const { clock, discoveryTimeoutMs, service, discoveryDescription } = this.#options;
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        unsubscribe();
        timer.cancel();
        ctx.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const unsubscribe = this.#source.subscribe((set) => {
        if (set !== undefined) finish();
      });
      const timer = clock.setTimer(
        () =>
          finish(
            new MeshError(
              'DISCOVERY_TIMEOUT',
              `service "${service}": no endpoints were discovered within ${discoveryTimeoutMs} ms (discovery: ${discoveryDescription}); check that the source is reachable and lists endpoints`,
              { service, route: ctx.route },
            ),
          ),
        discoveryTimeoutMs,
        { keepAlive: true },
      );
      const onAbort = () => finish(ctx.signal?.reason instanceof Error ? ctx.signal.reason : new Error('aborted'));
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #closedError(): MeshError {
    return new MeshError('CLIENT_CLOSED', `client for service "${this.#options.service}" is closed; create a new one`, {
      service: this.#options.service,
    });
  }
}

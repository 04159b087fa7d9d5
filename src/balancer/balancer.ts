/**
 * The balancer is the bottom of the client stack: it owns one endpoint service (an undici Pool) per
 * discovered address, keeps that set in step with discovery, and sends each request to the endpoint
 * its picker chooses by load (or by the request's hash key). It never waits on discovery once a
 * first set is known; before that it waits up to `discoveryTimeoutMs` and then fails with a clear
 * error.
 *
 * Subsets (Istio's DestinationRule subsets) are label selectors over the same endpoints: a request
 * whose context names a subset is balanced over the endpoints whose labels match it, sharing their
 * connections, loads and ejection state with every other subset, as Envoy's subset balancer does.
 *
 * The lists handed to the picker stay the same array objects while their membership is unchanged
 * (between discovery updates, and between ejections), so pickers can key what they derive from a
 * list (cumulative weights, a hash ring) on the array.
 */
import type { Clock } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { CallContext, Service } from '../core/service.js';
import type { Unsubscribe, Watchable } from '../core/watchable.js';
import { endpointKey, type EndpointAddress } from '../discovery/endpoint-address.js';
import type { EndpointLoad, LoadFactory } from './endpoint-load.js';
import { newOutlierState, type OutlierDetector, type OutlierState } from './outlier-detector.js';
import type { Pickable, Picker } from './picker.js';

export interface BalancedEndpoint<Req, Res> extends Pickable {
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
  /** Named label selectors: a request whose context names one goes only to the endpoints it selects. */
  subsets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The request's affinity key, hashed, for consistent-hash pickers; undefined when the request has none. */
  hashOf?(req: Req): number | undefined;
  onEjected?(endpoint: string): void;
}

type EndpointSet = readonly EndpointAddress[] | undefined;

export class Balancer<Req, Res> implements Service<Req, Res> {
  readonly #options: BalancerOptions<Req, Res>;
  readonly #source: Watchable<EndpointSet>;
  readonly #unsubscribe: Unsubscribe;
  readonly #byKey = new Map<string, BalancedEndpoint<Req, Res>>();
  #all: BalancedEndpoint<Req, Res>[] = [];
  /** Each subset's endpoints, recomputed on every discovery update. */
  #bySubset = new Map<string, BalancedEndpoint<Req, Res>[]>();
  /** The in-rotation part of a list, kept as the same array while it has the same members. */
  #healthyOf = new WeakMap<readonly BalancedEndpoint<Req, Res>[], BalancedEndpoint<Req, Res>[]>();
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
      endpoint = this.#pick(req, ctx);
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
        // Neither the caller giving up nor a request refused before sending (malformed, or over the
        // endpoint's pending-requests limit) says anything about the endpoint's health.
        const code = (err as { code?: unknown } | null)?.code;
        const endpointFailed = !ctx.signal?.aborted && code !== 'INVALID_REQUEST' && code !== 'CONCURRENCY_LIMITED';
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

  #pick(req: Req, ctx: CallContext): BalancedEndpoint<Req, Res> {
    const subset = ctx.subset;
    const all = subset === undefined ? this.#all : this.#subset(subset, ctx);
    if (all.length === 0) {
      const { service, discoveryDescription } = this.#options;
      const what = subset === undefined ? `service "${service}" has no endpoints` : `subset "${subset}" of service "${service}" has no endpoints (none of ${this.#all.length} has the labels ${JSON.stringify(this.#options.subsets![subset])})`;
      throw new MeshError('NO_ENDPOINTS', `${what} (discovery: ${discoveryDescription}); check that discovery lists at least one`, { service, route: ctx.route });
    }
    if (all.length === 1) return all[0]!;
    let candidates = all;
    if (this.#ejected > 0) {
      const detector = this.#options.outlierDetector;
      const now = this.#options.clock.now();
      let ejected = 0;
      for (const e of this.#all) if (!detector.readmitIfDue(e.outlier, now)) ejected++;
      this.#ejected = ejected;
      const healthy = this.#healthy(all);
      // Every endpoint ejected: fail open and use them all rather than refuse every request.
      if (healthy.length > 0) candidates = healthy;
    }
    const avoid = ctx.avoidEndpoint;
    if (avoid !== undefined) {
      const others = candidates.filter((e) => e.key !== avoid);
      if (others.length > 0) candidates = others;
    }
    const hashOf = this.#options.hashOf;
    return this.#options.picker.pick(candidates, this.#costOf, hashOf === undefined ? undefined : hashOf(req));
  }

  #subset(name: string, ctx: CallContext): BalancedEndpoint<Req, Res>[] {
    const found = this.#bySubset.get(name);
    if (found !== undefined) return found;
    const { service } = this.#options;
    const known = Object.keys(this.#options.subsets ?? {});
    throw new MeshError('INVALID_CONFIG', `service "${service}" has no subset "${name}"; its subsets: ${known.join(', ') || '(none)'}`, { service, route: ctx.route });
  }

  /** The endpoints of `list` in rotation; the previous answer's array when the members are the same. */
  #healthy(list: BalancedEndpoint<Req, Res>[]): BalancedEndpoint<Req, Res>[] {
    const detector = this.#options.outlierDetector;
    const now = this.#options.clock.now();
    const previous = this.#healthyOf.get(list);
    let same = previous !== undefined;
    let count = 0;
    for (const e of list) {
      if (detector.isEjected(e.outlier, now)) continue;
      if (same && previous![count] !== e) same = false;
      count++;
    }
    if (same && previous!.length === count) return previous!;
    const healthy = list.filter((e) => !detector.isEjected(e.outlier, now));
    this.#healthyOf.set(list, healthy);
    return healthy;
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
        // A new weight or new labels keep the endpoint's connections, load and ejection state.
        const same = existing.address.weight === address.weight && sameLabels(existing.address.labels, address.labels);
        const kept = same ? existing : { ...existing, address, weight: address.weight ?? 1 };
        if (!same) this.#byKey.set(key, kept);
        next.push(kept);
        continue;
      }
      const created: BalancedEndpoint<Req, Res> = {
        key,
        address,
        weight: address.weight ?? 1,
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
    this.#bySubset = new Map(Object.entries(this.#options.subsets ?? {}).map(([name, labels]) => [name, next.filter((e) => hasLabels(e.address, labels))]));
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

function hasLabels(address: EndpointAddress, wanted: Readonly<Record<string, string>>): boolean {
  const labels = address.labels;
  for (const name in wanted) if (labels?.[name] !== wanted[name]) return false;
  return true;
}

function sameLabels(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const left = Object.entries(a ?? {});
  return left.length === Object.keys(b ?? {}).length && left.every(([name, value]) => b?.[name] === value);
}

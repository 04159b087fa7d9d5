/**
 * A Resolver turns a service name into a live set of endpoints. It pushes whole sets (not deltas) so
 * that a consumer never has to reconcile partial updates; on failure it reports the error and the
 * consumer keeps using the last set it was given.
 */
import type { EndpointAddress } from './endpoint-address.js';

export interface ResolverListener {
  /** A complete, current endpoint set (may be empty: the service has no endpoints right now). */
  onEndpoints(endpoints: readonly EndpointAddress[]): void;
  /** Resolution failed; the last set stays in use. The resolver keeps trying on its own schedule. */
  onError(error: Error): void;
}

export interface Resolver {
  /** Human-readable source, e.g. `dns+srv:_http._tcp.reviews.local`; used in logs and errors. */
  readonly description: string;
  /** Begins resolving and watching; called once. */
  start(listener: ResolverListener): void;
  /** Stops timers and watchers; no listener calls happen after it resolves. */
  close(): Promise<void>;
}

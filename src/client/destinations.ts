/**
 * The bottom of the client stack: one balancer per traffic-split destination. Without a split every
 * request goes to the service's own endpoints; with one, the split filter has written the chosen
 * destination (another service's name, or an authority such as `reviews-v2:9080`) on the call
 * context, and this service sends the request to that destination's endpoints. Destinations are set
 * up lazily on first use and kept while the client lives, so a canary's connections stay warm.
 *
 * The apex service's policies (timeouts, retries, breaker) apply to every destination, as with
 * Linkerd's dstOverrides and SMI TrafficSplit: a split changes where requests go, not how.
 */
import type { CallContext, Service } from '../core/service.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';

export type DestinationFactory = (destination: string) => Service<MeshRequest, MeshResponse>;

export class Destinations implements Service<MeshRequest, MeshResponse> {
  readonly #own: Service<MeshRequest, MeshResponse>;
  readonly #ownName: string;
  readonly #factory: DestinationFactory;
  readonly #others = new Map<string, Service<MeshRequest, MeshResponse>>();

  readonly #canonical: (destination: string) => string;

  /** `canonical` maps an authority (`reviews.default.svc.cluster.local:9080`) to the mesh service it names. */
  constructor(ownName: string, own: Service<MeshRequest, MeshResponse>, factory: DestinationFactory, canonical: (destination: string) => string = (d) => d) {
    this.#ownName = ownName;
    this.#own = own;
    this.#factory = factory;
    this.#canonical = canonical;
  }

  call(req: MeshRequest, ctx: CallContext): Promise<MeshResponse> {
    const destination = ctx.destination === undefined ? undefined : this.#canonical(ctx.destination);
    if (destination === undefined || destination === this.#ownName) return this.#own.call(req, ctx);
    let target = this.#others.get(destination);
    if (target === undefined) {
      target = this.#factory(destination);
      this.#others.set(destination, target);
    }
    return target.call(req, ctx);
  }

  /** The destinations set up so far, own first, for admin views. */
  destinations(): [string, Service<MeshRequest, MeshResponse>][] {
    return [[this.#ownName, this.#own], ...this.#others];
  }

  async close(): Promise<void> {
    await Promise.all([this.#own.close(), ...[...this.#others.values()].map((s) => s.close())]);
  }
}

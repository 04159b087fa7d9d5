/**
 * A grpc-js name resolver for `mesh:///<service>` targets, fed by meshwork's own discovery (static,
 * file, DNS A/SRV, and any resolver added later), so a grpc-js channel follows endpoint changes
 * live, as grpc-js-xds plugs xDS into grpc-js rather than wrapping it.
 *
 * A service with a traffic `split` resolves to the union of its destinations' endpoints (each
 * destination through its own discovery: another service of the mesh, or an authority by DNS, as
 * the HTTP client's destinations), and the resolution carries the attribute `SPLIT_ATTRIBUTE`: the
 * destinations with their weights and endpoints, which meshwork's balancers pick from by weight.
 *
 * grpc-js keeps one resolver class per scheme for the whole process, so the class is made here
 * around the lookup it should use: the last registration wins.
 */
import { experimental, status, type ChannelOptions } from '@grpc/grpc-js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { SplitDestination } from '../core/policy.js';
import type { EndpointAddress } from '../discovery/endpoint-address.js';
import { resolverFromSpec, type DiscoverySpec } from '../discovery/parse-discovery.js';
import type { Resolver } from '../discovery/resolver.js';

export const MESH_SCHEME = 'mesh';

/** The resolution attribute that carries a split: `SplitGroup[]`, in the split's order. */
export const SPLIT_ATTRIBUTE = 'meshwork.split';

export interface SplitGroup {
  destination: string;
  weight: number;
  /** The destination's endpoints, as grpc-js's `endpointToString` names them. */
  endpoints: string[];
}

export interface MeshResolverOptions {
  /** Where each service's endpoints come from; undefined means "no such service". */
  discoveryOf(service: string): DiscoverySpec | undefined;
  /** The service's traffic split, if it has one; each destination resolves through `destinationDiscovery`. */
  splitOf?(service: string): readonly SplitDestination[] | undefined;
  /** Where a split destination's endpoints come from (a service of the mesh, or an authority by DNS). */
  destinationDiscovery?(destination: string): DiscoverySpec;
  /** Relative `file:` paths are resolved against this. */
  baseDir?: string;
  clock?: Clock;
  logger?: Logger;
}

type Listener = experimental.ResolverListener;

export function registerMeshResolver(options: MeshResolverOptions): void {
  class MeshNameResolver implements experimental.Resolver {
    readonly #service: string;
    readonly #listener: Listener;
    #discoveries: Resolver[] | undefined;
    #split: readonly SplitDestination[] | undefined;
    /** The last endpoint set of each source (the service's own, or each split destination), in order. */
    #last: (readonly EndpointAddress[] | undefined)[] = [];
    #reported = false;

    constructor(target: experimental.GrpcUri, listener: Listener, _channelOptions: ChannelOptions) {
      this.#service = serviceOf(target);
      this.#listener = listener;
    }

    updateResolution(): void {
      if (this.#discoveries) {
        // Already watching: hand over what is known (grpc-js asks again after failures).
        if (this.#reported) setImmediate(() => this.#discoveries && this.#report());
        return;
      }
      const spec = options.discoveryOf(this.#service);
      if (spec === undefined) {
        setImmediate(() => this.#fail(`the mesh has no service "${this.#service}" (target ${MESH_SCHEME}:///${this.#service})`));
        return;
      }
      const split = options.splitOf?.(this.#service);
      this.#split = split !== undefined && split.length > 0 ? split : undefined;
      const specs = this.#split === undefined ? [spec] : this.#split.map((d) => options.destinationDiscovery!(d.service));
      const discoveries: Resolver[] = [];
      try {
        for (const s of specs) {
          discoveries.push(
            resolverFromSpec(s, {
              service: this.#service,
              ...(options.baseDir ? { baseDir: options.baseDir } : {}),
              ...(options.clock ? { clock: options.clock } : {}),
              ...(options.logger ? { logger: options.logger } : {}),
            }),
          );
        }
      } catch (err) {
        setImmediate(() => this.#fail((err as Error).message));
        return;
      }
      this.#discoveries = discoveries;
      this.#last = discoveries.map(() => undefined);
      discoveries.forEach((discovery, i) =>
        discovery.start({
          // grpc-js must not hear from a resolver synchronously inside updateResolution.
          onEndpoints: (endpoints) =>
            setImmediate(() => {
              if (this.#discoveries !== discoveries) return;
              this.#last[i] = endpoints;
              this.#report();
            }),
          onError: (error) => setImmediate(() => this.#discoveries === discoveries && !this.#reported && this.#fail(error.message)),
        }),
      );
    }

    destroy(): void {
      const discoveries = this.#discoveries;
      this.#discoveries = undefined;
      this.#last = [];
      this.#reported = false;
      for (const discovery of discoveries ?? []) void discovery.close();
    }

    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return serviceOf(target);
    }

    #report(): void {
      this.#reported = true;
      const split = this.#split;
      if (split === undefined) {
        const list = (this.#last[0] ?? []).map(toEndpoint);
        this.#listener(experimental.statusOrFromValue(list), {}, null, '');
        return;
      }
      const list: experimental.Endpoint[] = [];
      const groups: SplitGroup[] = split.map((d, i) => {
        const endpoints = (this.#last[i] ?? []).map(toEndpoint);
        list.push(...endpoints);
        return { destination: d.service, weight: d.weight, endpoints: endpoints.map((e) => experimental.endpointToString(e)) };
      });
      this.#listener(experimental.statusOrFromValue(list), { [SPLIT_ATTRIBUTE]: groups }, null, '');
    }

    #fail(details: string): void {
      this.#listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details }), {}, null, details);
    }
  }
  experimental.registerResolver(MESH_SCHEME, MeshNameResolver);
}

function toEndpoint(e: EndpointAddress): experimental.Endpoint {
  return { addresses: [{ host: e.host, port: e.port }] };
}

function serviceOf(target: experimental.GrpcUri): string {
  return target.path.replace(/^\/+/, '');
}

/**
 * A grpc-js name resolver for `mesh:///<service>` targets, fed by meshwork's own discovery (static,
 * file, DNS A/SRV, and any resolver added later), so a grpc-js channel follows endpoint changes
 * live, as grpc-js-xds plugs xDS into grpc-js rather than wrapping it.
 *
 * grpc-js keeps one resolver class per scheme for the whole process, so the class is made here
 * around the lookup it should use: the last registration wins.
 */
import { experimental, status, type ChannelOptions } from '@grpc/grpc-js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { EndpointAddress } from '../discovery/endpoint-address.js';
import { resolverFromSpec, type DiscoverySpec } from '../discovery/parse-discovery.js';
import type { Resolver } from '../discovery/resolver.js';

export const MESH_SCHEME = 'mesh';

export interface MeshResolverOptions {
  /** Where each service's endpoints come from; undefined means "no such service". */
  discoveryOf(service: string): DiscoverySpec | undefined;
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
    #discovery: Resolver | undefined;
    #last: readonly EndpointAddress[] | undefined;

    constructor(target: experimental.GrpcUri, listener: Listener, _channelOptions: ChannelOptions) {
      this.#service = serviceOf(target);
      this.#listener = listener;
    }

    updateResolution(): void {
      if (this.#discovery) {
        // Already watching: hand over what is known (grpc-js asks again after failures).
        const last = this.#last;
        if (last) setImmediate(() => this.#report(last));
        return;
      }
      const spec = options.discoveryOf(this.#service);
      if (spec === undefined) {
        setImmediate(() => this.#fail(`the mesh has no service "${this.#service}" (target ${MESH_SCHEME}:///${this.#service})`));
        return;
      }
      let discovery: Resolver;
      try {
        discovery = resolverFromSpec(spec, {
          service: this.#service,
          ...(options.baseDir ? { baseDir: options.baseDir } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        });
      } catch (err) {
        setImmediate(() => this.#fail((err as Error).message));
        return;
      }
      this.#discovery = discovery;
      discovery.start({
        // grpc-js must not hear from a resolver synchronously inside updateResolution.
        onEndpoints: (endpoints) => setImmediate(() => this.#discovery === discovery && this.#report(endpoints)),
        onError: (error) => setImmediate(() => this.#discovery === discovery && this.#last === undefined && this.#fail(error.message)),
      });
    }

    destroy(): void {
      const discovery = this.#discovery;
      this.#discovery = undefined;
      this.#last = undefined;
      void discovery?.close();
    }

    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return serviceOf(target);
    }

    #report(endpoints: readonly EndpointAddress[]): void {
      this.#last = endpoints;
      const list = endpoints.map((e) => ({ addresses: [{ host: e.host, port: e.port }] }));
      this.#listener(experimental.statusOrFromValue(list), {}, null, '');
    }

    #fail(details: string): void {
      this.#listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details }), {}, null, details);
    }
  }
  experimental.registerResolver(MESH_SCHEME, MeshNameResolver);
}

function serviceOf(target: experimental.GrpcUri): string {
  return target.path.replace(/^\/+/, '');
}

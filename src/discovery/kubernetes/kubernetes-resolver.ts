/**
 * Endpoints of a Kubernetes Service, from its EndpointSlices watched on the API server
 * (`labelSelector=kubernetes.io/service-name=<service>`), with the semantics of endpoint-slices.ts.
 * A pod that turns not-ready, starts terminating or goes away leaves the set as soon as the event
 * arrives; the balancer then sends it nothing new and lets its requests in flight finish.
 *
 * While the API server cannot be reached the last set stays in use (each failed attempt is
 * reported, which the mesh counts as meshwork_discovery_errors_total): a control-plane outage must
 * not take the data plane down with it.
 */
import type { EndpointAddress } from '../endpoint-address.js';
import { sameEndpointSet } from '../endpoint-list.js';
import type { Resolver, ResolverListener } from '../resolver.js';
import { loadCredentials } from './credentials.js';
import { endpointsFromSlices, type EndpointSlice } from './endpoint-slices.js';
import type { KubernetesTarget } from './kubernetes-target.js';
import type { ListWatchStats } from './list-watch.js';
import { watchCollection, type ConnectionOptions, type WatchedCollection } from './watch-collection.js';

export interface KubernetesResolverOptions extends KubernetesTarget, ConnectionOptions {
  /** More labels the slices must have, ANDed with the Service's (e.g. `version=v2`). */
  labelSelector?: string;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export class KubernetesResolver implements Resolver {
  readonly description: string;
  readonly namespace: string;
  readonly #options: KubernetesResolverOptions;
  #watch: WatchedCollection | undefined;
  #last: readonly EndpointAddress[] | undefined;

  constructor(options: KubernetesResolverOptions) {
    // Loaded now, so that missing credentials fail the configuration rather than the first request.
    const credentials =
      options.credentials ?? loadCredentials({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.context ? { context: options.context } : {}) });
    this.#options = { ...options, credentials };
    this.namespace = options.namespace ?? credentials.namespace;
    this.description = `k8s:${options.service}.${this.namespace}:${options.port}${options.labelSelector ? ` (${options.labelSelector})` : ''}`;
  }

  /** List and watch counts, for tests and the benchmark. */
  get stats(): Readonly<ListWatchStats> | undefined {
    return this.#watch?.stats;
  }

  start(listener: ResolverListener): void {
    const { service, port, labelSelector } = this.#options;
    this.#watch = watchCollection<EndpointSlice>(
      {
        ...this.#options,
        namespace: this.namespace,
        path: (namespace) => `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        labelSelector: [`${SERVICE_NAME_LABEL}=${service}`, labelSelector].filter(Boolean).join(','),
      },
      {
        onObjects: (slices) => {
          const endpoints = endpointsFromSlices(slices.values(), port);
          if (sameEndpointSet(this.#last, endpoints)) return;
          this.#last = endpoints;
          listener.onEndpoints(endpoints);
        },
        onError: (error) => {
          const kept = this.#last ? `keeping the last ${this.#last.length} endpoint(s)` : 'no endpoints known yet';
          listener.onError(new Error(`${this.description}: ${error.message}; ${kept}, retrying`, { cause: error }));
        },
      },
    );
  }

  async close(): Promise<void> {
    await this.#watch?.close();
  }
}

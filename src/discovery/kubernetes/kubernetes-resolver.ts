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
import { systemClock, systemRandom, type Clock, type Random } from '../../core/clock.js';
import type { EndpointAddress } from '../endpoint-address.js';
import { sameEndpointSet } from '../endpoint-list.js';
import type { Resolver, ResolverListener } from '../resolver.js';
import { loadCredentials, type KubeCredentials } from './credentials.js';
import { endpointsFromSlices, type EndpointSlice } from './endpoint-slices.js';
import { KubeApiClient } from './kube-api-client.js';
import { ListWatch, type ListWatchStats } from './list-watch.js';
import type { KubernetesTarget } from './kubernetes-target.js';

export interface KubernetesResolverOptions extends KubernetesTarget {
  /** More labels the slices must have, ANDed with the Service's (e.g. `version=v2`). */
  labelSelector?: string;
  /** Credentials to use; by default loaded as loadCredentials does (pod, else kubeconfig). */
  credentials?: KubeCredentials;
  kubeconfig?: string;
  context?: string;
  watchTimeoutSeconds?: number;
  requestTimeoutMs?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  clock?: Clock;
  random?: Random;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export class KubernetesResolver implements Resolver {
  readonly description: string;
  readonly namespace: string;
  readonly #client: KubeApiClient;
  readonly #watch: ListWatch<EndpointSlice>;
  readonly #port: string | number;
  #last: readonly EndpointAddress[] | undefined;

  constructor(options: KubernetesResolverOptions) {
    const credentials =
      options.credentials ?? loadCredentials({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.context ? { context: options.context } : {}) });
    this.namespace = options.namespace ?? credentials.namespace;
    this.#port = options.port;
    this.description = `k8s:${options.service}.${this.namespace}:${options.port}${options.labelSelector ? ` (${options.labelSelector})` : ''}`;
    this.#client = new KubeApiClient(credentials, options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs });
    this.#watch = new ListWatch<EndpointSlice>({
      client: this.#client,
      path: `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices`,
      labelSelector: [`${SERVICE_NAME_LABEL}=${options.service}`, options.labelSelector].filter(Boolean).join(','),
      clock: options.clock ?? systemClock,
      random: options.random ?? systemRandom,
      ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
  }

  /** List and watch counts, for tests and the benchmark. */
  get stats(): Readonly<ListWatchStats> {
    return this.#watch.stats;
  }

  start(listener: ResolverListener): void {
    this.#watch.start({
      onObjects: (slices) => {
        const endpoints = endpointsFromSlices(slices.values(), this.#port);
        if (sameEndpointSet(this.#last, endpoints)) return;
        this.#last = endpoints;
        listener.onEndpoints(endpoints);
      },
      onError: (error) => {
        const kept = this.#last ? `keeping the last ${this.#last.length} endpoint(s)` : 'no endpoints known yet';
        listener.onError(new Error(`${this.description}: ${error.message}; ${kept}, retrying`, { cause: error }));
      },
    });
  }

  async close(): Promise<void> {
    await this.#watch.close();
    await this.#client.close();
  }
}

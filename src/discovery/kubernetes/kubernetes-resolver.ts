/**
 * Endpoints of a Kubernetes Service, from its EndpointSlices watched on the API server
 * (`labelSelector=kubernetes.io/service-name=<service>`), with the semantics of endpoint-slices.ts.
 * A pod that turns not-ready, starts terminating or goes away leaves the set as soon as the event
 * arrives; the balancer then sends it nothing new and lets its requests in flight finish.
 *
 * While the API server cannot be reached the last set stays in use (each failed attempt is
 * reported, which the mesh counts as meshwork_discovery_errors_total): a control-plane outage must
 * not take the data plane down with it.
 *
 * EndpointSlices carry no labels of the pods behind them, which subsets select by. With `podLabels`
 * the namespace's pods are watched too (list and watch on pods: see deploy/kubernetes/rbac.yaml) and
 * each endpoint takes the labels of the pod its `targetRef` names; a relabelled pod moves between
 * subsets when the event arrives. No set is reported before both collections have been listed, so
 * that no request finds a subset empty only because the pods were not known yet.
 */
import type { EndpointAddress } from '../endpoint-address.js';
import { sameEndpointSet } from '../endpoint-list.js';
import type { Resolver, ResolverListener } from '../resolver.js';
import { loadCredentials } from './credentials.js';
import { endpointsFromSlices, type EndpointSlice, type SliceEndpoint } from './endpoint-slices.js';
import type { KubernetesTarget } from './kubernetes-target.js';
import type { KubeObject, ListWatchStats } from './list-watch.js';
import { watchCollection, type ConnectionOptions, type WatchedCollection } from './watch-collection.js';

export interface KubernetesResolverOptions extends KubernetesTarget, ConnectionOptions {
  /** More labels the slices must have, ANDed with the Service's (e.g. `version=v2`). */
  labelSelector?: string;
  /** Label each endpoint with its pod's labels (watches the namespace's pods). */
  podLabels?: boolean;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export class KubernetesResolver implements Resolver {
  readonly description: string;
  readonly namespace: string;
  readonly #options: KubernetesResolverOptions;
  #watch: WatchedCollection | undefined;
  #podWatch: WatchedCollection | undefined;
  /** The watch's live copy of the slices. */
  #slices: ReadonlyMap<string, EndpointSlice> | undefined;
  /** Pod labels by pod name; undefined until the pods have been listed (or when not asked for). */
  #podLabels: Map<string, Record<string, string>> | undefined;
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
    const { service, port, labelSelector, podLabels, ...connection } = this.#options;
    const onError = (error: Error) => {
      const kept = this.#last ? `keeping the last ${this.#last.length} endpoint(s)` : 'no endpoints known yet';
      listener.onError(new Error(`${this.description}: ${error.message}; ${kept}, retrying`, { cause: error }));
    };
    const labelsOf = (endpoint: SliceEndpoint) => (endpoint.targetRef?.kind === 'Pod' && endpoint.targetRef.name !== undefined ? this.#podLabels?.get(endpoint.targetRef.name) : undefined);
    const update = () => {
      if (this.#slices === undefined || (podLabels && this.#podLabels === undefined)) return;
      const endpoints = endpointsFromSlices(this.#slices.values(), port, podLabels ? labelsOf : undefined);
      if (sameEndpointSet(this.#last, endpoints)) return;
      this.#last = endpoints;
      listener.onEndpoints(endpoints);
    };
    if (podLabels) {
      this.#podWatch = watchCollection<KubeObject>(
        // Every pod of the namespace: a Service's selector is not on its slices, and pods outside it are never looked up.
        { ...connection, namespace: this.namespace, path: (namespace) => `/api/v1/namespaces/${namespace}/pods` },
        {
          onObjects: (pods) => {
            const labels = new Map<string, Record<string, string>>();
            for (const pod of pods.values()) labels.set(pod.metadata.name, pod.metadata.labels ?? {});
            this.#podLabels = labels;
            update();
          },
          onError,
        },
      );
    }
    this.#watch = watchCollection<EndpointSlice>(
      {
        ...this.#options,
        namespace: this.namespace,
        path: (namespace) => `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        labelSelector: [`${SERVICE_NAME_LABEL}=${service}`, labelSelector].filter(Boolean).join(','),
      },
      {
        onObjects: (slices) => {
          this.#slices = slices;
          update();
        },
        onError,
      },
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.#watch?.close(), this.#podWatch?.close()]);
  }
}

/**
 * One watched Kubernetes collection with everything it needs: credentials (given, or loaded as
 * loadCredentials does), an API client of its own, and the list-then-watch loop. EndpointSlices,
 * ServiceProfiles and the sidecar's ConfigMap are all read through this.
 */
import { systemClock, systemRandom, type Clock, type Random } from '../../core/clock.js';
import { loadCredentials, type KubeCredentials } from './credentials.js';
import { KubeApiClient } from './kube-api-client.js';
import { ListWatch, type KubeObject, type ListWatchListener, type ListWatchStats } from './list-watch.js';

export interface ConnectionOptions {
  /** Credentials to use; by default those of the pod, else of the kubeconfig. */
  credentials?: KubeCredentials;
  kubeconfig?: string;
  context?: string;
  requestTimeoutMs?: number;
  watchTimeoutSeconds?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  clock?: Clock;
  random?: Random;
}

export interface CollectionOptions extends ConnectionOptions {
  /** The collection's path in a namespace (the credentials' namespace when none is given). */
  path(namespace: string): string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchedCollection {
  readonly namespace: string;
  readonly stats: Readonly<ListWatchStats>;
  close(): Promise<void>;
}

export function watchCollection<T extends KubeObject>(options: CollectionOptions, listener: ListWatchListener<T>): WatchedCollection {
  const credentials =
    options.credentials ?? loadCredentials({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.context ? { context: options.context } : {}) });
  const namespace = options.namespace ?? credentials.namespace;
  const client = new KubeApiClient(credentials, options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs });
  const watch = new ListWatch<T>({
    client,
    path: options.path(namespace),
    ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
    clock: options.clock ?? systemClock,
    random: options.random ?? systemRandom,
    ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });
  watch.start(listener);
  return {
    namespace,
    get stats() {
      return watch.stats;
    },
    async close() {
      await watch.close();
      await client.close();
    },
  };
}

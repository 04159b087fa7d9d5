/**
 * Linkerd ServiceProfiles (`linkerd.io/v1alpha2`, plural `serviceprofiles`) of a namespace,
 * optionally narrowed by a label selector, watched like any collection. What they mean for the
 * mesh is decided in src/config/cluster-profiles.ts; this only delivers the objects.
 */
import type { KubeObject, ListWatchListener } from './list-watch.js';
import { watchCollection, type ConnectionOptions, type WatchedCollection } from './watch-collection.js';

export interface ServiceProfileWatchOptions extends ConnectionOptions {
  namespace?: string;
  labelSelector?: string;
}

export function watchServiceProfiles(options: ServiceProfileWatchOptions, listener: ListWatchListener<KubeObject>): WatchedCollection {
  return watchCollection({ ...options, path: (namespace) => `/apis/linkerd.io/v1alpha2/namespaces/${namespace}/serviceprofiles` }, listener);
}

/**
 * From a Service's EndpointSlices (discovery.k8s.io/v1) to the endpoints that take traffic, with the
 * semantics kube-proxy and Linkerd's destination service use:
 *
 * - `ready` (nil means ready) endpoints take traffic.
 * - When none is ready, endpoints that are `serving` and `terminating` do (a rollout where every old
 *   pod is shutting down must not black-hole the Service); otherwise nothing does.
 * - The port is looked up by name in each slice, because slices of one Service may map the same
 *   Service port to different container ports (pods of two versions during a rollout). A number
 *   is the port on the endpoints themselves, as the slice lists it.
 * - A Service has several slices (over 100 endpoints per slice, or one per address family, or two
 *   for a while when the controller moves endpoints between slices); they are merged, and an address
 *   listed twice counts once, with its best condition.
 * - Only the first address of an endpoint is used: the API says they are fungible, and kube-proxy
 *   does the same. FQDN slices are skipped: their "addresses" are names, not pods.
 * - Slices carry no pod labels; `labelsOf` (given when subsets need them) looks them up by the
 *   endpoint's `targetRef`, as Istio's control plane does from the pods it watches.
 * - A slice, endpoint or port of the wrong shape (a watch stream can carry anything) is skipped: it
 *   must neither yield an address nothing can connect to nor, by throwing, stop every later update.
 */
import { isIP } from 'node:net';
import type { EndpointAddress } from '../endpoint-address.js';
import { endpointKey } from '../endpoint-address.js';
import type { KubeObject } from './list-watch.js';

export interface EndpointSlice extends KubeObject {
  addressType?: 'IPv4' | 'IPv6' | 'FQDN' | string;
  endpoints?: SliceEndpoint[] | null;
  ports?: SlicePort[] | null;
}

export interface SliceEndpoint {
  addresses?: string[];
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface SlicePort {
  name?: string | null;
  port?: number | null;
  protocol?: string | null;
}

/** How an endpoint may be used, best first. */
const READY = 0;
const SERVING_TERMINATING = 1;
const UNUSABLE = 2;
type Standing = typeof READY | typeof SERVING_TERMINATING | typeof UNUSABLE;

function standingOf(endpoint: SliceEndpoint): Standing {
  const conditions = endpoint.conditions ?? {};
  if (conditions.ready !== false) return READY;
  // serving nil: the API says to read it as ready's value, which is false here.
  if (conditions.serving === true && conditions.terminating === true) return SERVING_TERMINATING;
  return UNUSABLE;
}

/** The slice's port for a Service port name, or the endpoint port number itself; undefined when the slice has no such port. */
function portIn(slice: EndpointSlice, port: string | number): number | undefined {
  const ports = Array.isArray(slice.ports) ? slice.ports.filter((p): p is SlicePort => typeof p === 'object' && p !== null) : [];
  const found = typeof port === 'number' ? ports.find((p) => p.port === port) : ports.find((p) => (p.name ?? '') === port);
  if (!found || (found.protocol && found.protocol !== 'TCP')) return undefined;
  return typeof found.port === 'number' && Number.isInteger(found.port) && found.port >= 1 && found.port <= 65_535 ? found.port : undefined;
}

export function endpointsFromSlices(slices: Iterable<EndpointSlice>, port: string | number, labelsOf?: (endpoint: SliceEndpoint) => Record<string, string> | undefined): EndpointAddress[] {
  const best = new Map<string, { address: EndpointAddress; standing: Standing }>();
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    const sliceEndpoints = Array.isArray(slice.endpoints) ? slice.endpoints : [];
    if (sliceEndpoints.length === 0) continue;
    const target = portIn(slice, port);
    if (target === undefined) continue;
    for (const endpoint of sliceEndpoints) {
      const host: unknown = Array.isArray(endpoint?.addresses) ? endpoint.addresses[0] : undefined;
      if (typeof host !== 'string' || isIP(host) === 0) continue;
      const standing = standingOf(endpoint);
      const labels = labelsOf?.(endpoint);
      const address: EndpointAddress = labels === undefined ? { host, port: target } : { host, port: target, labels };
      const key = endpointKey(address);
      const seen = best.get(key);
      if (!seen || standing < seen.standing) best.set(key, { address, standing });
    }
  }
  let chosen: Standing = UNUSABLE;
  for (const { standing } of best.values()) if (standing < chosen) chosen = standing;
  if (chosen === UNUSABLE) return [];
  const endpoints: EndpointAddress[] = [];
  for (const { address, standing } of best.values()) if (standing === chosen) endpoints.push(address);
  return endpoints;
}

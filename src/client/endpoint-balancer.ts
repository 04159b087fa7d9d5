/**
 * One discovered, balanced set of endpoints: a Resolver feeding a Balancer over httpEndpoints. A
 * service has one of these for its own endpoints and one per traffic-split destination.
 */
import type { Clock, Random } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Service } from '../core/service.js';
import { Watchable } from '../core/watchable.js';
import { Balancer } from '../balancer/balancer.js';
import { LeastRequestLoad } from '../balancer/least-request-load.js';
import { OutlierDetector } from '../balancer/outlier-detector.js';
import { p2cPicker } from '../balancer/p2c-picker.js';
import { PeakEwmaLoad } from '../balancer/peak-ewma-load.js';
import { roundRobinPicker } from '../balancer/round-robin-picker.js';
import { randomPicker } from '../balancer/random-picker.js';
import { ringHashPicker } from '../balancer/ring-hash-picker.js';
import { maglevPicker } from '../balancer/maglev-picker.js';
import type { Picker } from '../balancer/picker.js';
import { requestHash } from '../balancer/request-hash.js';
import { endpointKey, type EndpointAddress } from '../discovery/endpoint-address.js';
import { resolverFromSpec, type DiscoverySpec } from '../discovery/parse-discovery.js';
import { isFailureResponse } from '../policy/response-classifier.js';
import { type ServiceSettings } from '../config/service-settings.js';
import { httpEndpoint } from './http-endpoint.js';
import type { ConnectionOptions } from 'node:tls';
import type { buildConnector } from 'undici';
import { MeshError } from '../core/errors.js';
import type { IdentitySource } from '../tls/identity-source.js';
import { currentMtlsOptions, mtlsConnector } from '../tls/mtls-connector.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';

export type { EndpointStatus } from '../balancer/endpoint-status.js';
import type { EndpointStatus } from '../balancer/endpoint-status.js';

export interface EndpointBalancer extends Service<MeshRequest, MeshResponse> {
  endpoints(): EndpointStatus[];
}

export interface BalancerDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  baseDir?: string;
  /** This process's identity, for services whose endpoints are reached over mTLS. */
  identity?: IdentitySource;
  onEjected?(endpoint: string): void;
  /** Discovery failed (the last endpoints stay in use); counted so that an outage shows in the metrics. */
  onDiscoveryError?(): void;
}

/**
 * `subsets`: the label selectors of the service whose endpoints these are (its own, or those of the
 * split destination this balancer serves).
 */
export function endpointBalancer(name: string, discovery: DiscoverySpec, settings: ServiceSettings, deps: BalancerDeps, subsets = settings.subsets): EndpointBalancer {
  const { clock, random, logger } = deps;
  const endpointLabels = subsets !== undefined && Object.keys(subsets).length > 0;
  const resolver = resolverFromSpec(discovery, { clock, random, logger, service: name, ...(deps.baseDir ? { baseDir: deps.baseDir } : {}), ...(endpointLabels ? { endpointLabels } : {}) });
  const endpoints = new Watchable<readonly EndpointAddress[] | undefined>(undefined);
  resolver.start({
    onEndpoints: (set) => {
      logger.debug('endpoints updated', { service: name, endpoints: set.length });
      endpoints.set(set);
    },
    onError: (error) => {
      logger.warn('discovery failed; keeping the last known endpoints', { service: name, source: resolver.description, error: error.message });
      deps.onDiscoveryError?.();
    },
  });
  const kind = settings.balancer;
  const tls = meshedTransport(name, settings, deps);
  const balancer = new Balancer<MeshRequest, MeshResponse>(endpoints, {
    service: name,
    clock,
    picker: pickerFor(settings, random),
    newLoad: kind === 'p2c-ewma' ? (now) => new PeakEwmaLoad(now, settings.ewma) : () => new LeastRequestLoad(),
    outlierDetector: new OutlierDetector(settings.outlierDetection === false ? { consecutiveFailures: 0 } : settings.outlierDetection, clock),
    makeEndpoint: (address) => {
      const transport = tls(address);
      return httpEndpoint(address, transport ? { ...settings.connection, tls: transport } : settings.connection);
    },
    isFailure: (res, ctx) => isFailureResponse(res.statusCode, ctx.routePolicy),
    discoveryTimeoutMs: settings.discoveryTimeoutMs,
    discoveryDescription: resolver.description,
    ...(subsets ? { subsets } : {}),
    ...(settings.consistentHash ? { hashOf: requestHash(settings.consistentHash.key) } : {}),
    onEjected: (endpoint) => {
      logger.warn('endpoint ejected after consecutive failures', { service: name, endpoint });
      deps.onEjected?.(endpoint);
    },
  });
  return {
    call: (req, ctx) => balancer.call(req, ctx),
    async close() {
      await resolver.close();
      await balancer.close();
    },
    endpoints: () =>
      balancer.endpoints().map((e) => {
        const status: EndpointStatus = { endpoint: e.key, pending: e.load.pending, ejected: balancer.isEjected(e.key), ejectedForMs: balancer.ejectionRemainingMs(e.key) };
        if (e.load.estimate) status.ewmaMs = e.load.estimate(clock.now());
        return status;
      }),
  };
}

function pickerFor(settings: ServiceSettings, random: Random): Picker {
  switch (settings.balancer) {
    case 'round-robin':
      return roundRobinPicker();
    case 'random':
      return randomPicker(random);
    case 'ring-hash':
      return ringHashPicker(random, { minimumRingSize: settings.consistentHash!.minimumRingSize });
    case 'maglev':
      return maglevPicker(random, { tableSize: settings.consistentHash!.tableSize });
    default:
      return p2cPicker(random);
  }
}

type MeshedTransport = { connector: buildConnector.connector; h2Options(): ConnectionOptions };

/**
 * How each endpoint is reached: over mTLS when the service's `tls` or the endpoint's own discovered
 * `identity` says so (the endpoint's identity, when known, is the one it must prove), else plaintext.
 */
function meshedTransport(name: string, settings: ServiceSettings, deps: BalancerDeps): (address: EndpointAddress) => MeshedTransport | undefined {
  const identity = deps.identity;
  if (settings.tls && !identity) {
    throw new MeshError('INVALID_CONFIG', `service "${name}": tls.identity asks for mTLS, but this mesh has no identity of its own; give identity: { certFile, keyFile, trustAnchorsFile }`, { service: name });
  }
  const byExpected = new Map<string, MeshedTransport>();
  let warned = false;
  return (address) => {
    const expected = address.identity ? [address.identity] : settings.tls?.identities;
    if (!expected) return undefined;
    if (!identity) {
      // Discovery says the endpoint is meshed, but this client has no certificate to present: it is
      // an unmeshed client, as in Linkerd, and talks plaintext (the endpoint decides whether to accept).
      if (!warned) deps.logger.warn('an endpoint is meshed but this mesh has no identity; calling it in plaintext', { service: name, endpoint: endpointKey(address) });
      warned = true;
      return undefined;
    }
    const key = expected.join(' ');
    let transport = byExpected.get(key);
    if (!transport) {
      const timeoutMs = settings.connection.connectTimeoutMs;
      transport = { connector: mtlsConnector(identity, { expected, timeoutMs, allowH2: false }), h2Options: () => currentMtlsOptions(identity, expected) };
      byExpected.set(key, transport);
    }
    return transport;
  };
}

/**
 * meshClient: one named service, its discovery, its balancer and its filter stack, behind three
 * doors: `request()` (undici-like, the fast path), `fetch()` (WHATWG Response) and `dispatcher` (an
 * undici Dispatcher, for `fetch(url, { dispatcher })` or `setGlobalDispatcher`).
 */
import { fetch as undiciFetch, type Dispatcher, type RequestInit, type Response } from 'undici';
import { systemClock, systemRandom } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { Params } from '../core/params.js';
import { newCallContext } from '../core/service.js';
import { Watchable } from '../core/watchable.js';
import { Balancer, type BalancedEndpoint } from '../balancer/balancer.js';
import { LeastRequestLoad } from '../balancer/least-request-load.js';
import { OutlierDetector } from '../balancer/outlier-detector.js';
import { p2cPicker } from '../balancer/p2c-picker.js';
import { PeakEwmaLoad } from '../balancer/peak-ewma-load.js';
import { roundRobinPicker } from '../balancer/round-robin-picker.js';
import type { EndpointAddress } from '../discovery/endpoint-address.js';
import { resolverFromSpec } from '../discovery/parse-discovery.js';
import type { Resolver } from '../discovery/resolver.js';
import { validateClientOptions, type MeshClientOptions } from './client-options.js';
import { ClockParam, LoggerParam, RandomParam, ServiceName } from '../core/core-params.js';
import { defaultClientStack, type HttpService, type HttpStack } from './default-stack.js';
import { isFailureResponse } from '../filters/response-classifier.js';
import { httpEndpoint } from './http-endpoint.js';
import type { MeshRequest, MeshResponse } from './http-types.js';
import { MeshDispatcher } from './mesh-dispatcher.js';

export interface EndpointStatus {
  endpoint: string;
  pending: number;
  ejected: boolean;
}

export interface MeshClient {
  readonly name: string;
  /** The stack this client was built from, for inspection (`stack.describe()`). */
  readonly stack: HttpStack;
  /** An undici Dispatcher that sends every request it is given to this service. */
  readonly dispatcher: Dispatcher;
  /** Sends a request through the stack; the response is undici's (statusCode, headers, body). */
  request(req: Partial<MeshRequest> & { path: string }): Promise<MeshResponse>;
  /** WHATWG fetch through the stack; `path` is the path and query, e.g. `/reviews/1`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The endpoints the balancer knows now. */
  endpoints(): EndpointStatus[];
  /** Stops discovery and closes every connection after in-flight requests finish. */
  close(): Promise<void>;
}

const SERVICE_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

export function meshClient(name: string, options: MeshClientOptions): MeshClient {
  if (typeof name !== 'string' || !SERVICE_NAME.test(name)) {
    throw new MeshError('INVALID_OPTIONS', `meshClient(${JSON.stringify(name)}): a service name is a DNS-like name such as "reviews" or "reviews.default"`);
  }
  const data = validateClientOptions(name, options ?? {});
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const logger = options.logger ?? silentLogger;

  const resolver: Resolver = resolverFromSpec(data.endpoints ? (options.endpoints as (string | EndpointAddress)[]) : options.discovery!, {
    clock,
    logger,
    service: name,
  });
  const endpoints = new Watchable<readonly EndpointAddress[] | undefined>(undefined);
  resolver.start({
    onEndpoints: (set) => {
      logger.debug('endpoints updated', { service: name, endpoints: set.length });
      endpoints.set(set);
    },
    onError: (error) => logger.warn('discovery failed; keeping the last known endpoints', { service: name, source: resolver.description, error: error.message }),
  });

  const kind = data.balancer ?? 'p2c-ewma';
  const ewma = data.ewma ?? {};
  const connection = data.connection ?? {};
  const balancer = new Balancer<MeshRequest, MeshResponse>(endpoints, {
    service: name,
    clock,
    picker: kind === 'round-robin' ? roundRobinPicker() : p2cPicker(random),
    newLoad: kind === 'p2c-ewma' ? (now) => new PeakEwmaLoad(now, ewma) : () => new LeastRequestLoad(),
    outlierDetector: new OutlierDetector(data.outlierDetection === false ? { consecutiveFailures: 0 } : (data.outlierDetection ?? {}), clock),
    makeEndpoint: (address) => httpEndpoint(address, connection),
    isFailure: (res, ctx) => isFailureResponse(res.statusCode, ctx.routePolicy),
    discoveryTimeoutMs: data.discoveryTimeoutMs ?? 5_000,
    discoveryDescription: resolver.description,
    onEjected: (endpoint) => logger.warn('endpoint ejected after consecutive failures', { service: name, endpoint }),
  });

  const params = Params.empty.with(ServiceName, name).with(ClockParam, clock).with(RandomParam, random).with(LoggerParam, logger);
  const stack = options.stack ? options.stack(defaultClientStack()) : defaultClientStack();
  const service: HttpService = stack.build(params, balancer);

  let closed = false;
  const client: MeshClient = {
    name,
    stack,
    dispatcher: undefined as unknown as Dispatcher,
    request(req) {
      if (closed) return Promise.reject(new MeshError('CLIENT_CLOSED', `client for service "${name}" is closed; create a new one`, { service: name }));
      const full: MeshRequest = req.method === undefined ? { ...req, method: 'GET' } : (req as MeshRequest);
      return service.call(full, newCallContext(name, req.signal));
    },
    fetch(path, init) {
      return undiciFetch(`http://${name}${path.startsWith('/') ? path : `/${path}`}`, { ...init, dispatcher: client.dispatcher });
    },
    endpoints() {
      return balancer.endpoints().map((e: BalancedEndpoint<MeshRequest, MeshResponse>) => ({
        endpoint: e.key,
        pending: e.load.pending,
        ejected: balancer.isEjected(e.key),
      }));
    },
    async close() {
      if (closed) return;
      closed = true;
      await resolver.close();
      await service.close();
    },
  };
  (client as { dispatcher: Dispatcher }).dispatcher = new MeshDispatcher(() => client);
  return client;
}

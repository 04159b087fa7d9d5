/**
 * The transport for one endpoint. HTTP/1.1 goes through an undici Pool (keep-alive, bounded
 * connections) on its dispatch API, so a response's chunks reach their consumer by callback with
 * no stream in between (./http1-exchange.ts); HTTP/2 (gRPC) goes through Node's own http2 client
 * (./h2-endpoint.ts). Both are reached over mTLS when the service asks for it.
 *
 * Errors are MeshErrors that say whether the request may have reached the app
 * (./endpoint-errors.ts).
 */
import type { ConnectionOptions } from 'node:tls';
import { Pool, type buildConnector, type Dispatcher } from 'undici';
import { MeshError } from '../core/errors.js';
import { ENDPOINT_DEFAULTS } from '../core/policy.js';
import type { CallContext, Service } from '../core/service.js';
import { endpointKey, type EndpointAddress } from '../discovery/endpoint-address.js';
import { H2Endpoint } from './h2-endpoint.js';
import { Http1Exchange } from './http1-exchange.js';
import type { MeshRequest } from '../http/http-types.js';
import type { MeshResponse, StreamedResponse } from '../http/mesh-response.js';

export interface HttpEndpointOptions {
  /** Most HTTP/1.1 connections to this endpoint at once. Defaults: ENDPOINT_DEFAULTS.connection. */
  connections?: number;
  /** How long an idle keep-alive connection is kept, ms. Default 4 000 (undici's default). */
  keepAliveTimeoutMs?: number;
  /** Time to establish a TCP connection, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Time to wait for response headers, ms. Default 300 000 (undici's default). */
  headersTimeoutMs?: number;
  /** Longest silence while reading a response body, ms. Default 300 000 (undici's default). */
  bodyTimeoutMs?: number;
  /** Requests one connection carries before it is replaced (undici's maxRequestsPerClient). Default: unbounded. */
  maxRequestsPerConnection?: number;
  /**
   * Requests that may wait for a free connection; beyond them a request is refused at once with
   * CONCURRENCY_LIMITED rather than queued (Envoy's pending-requests breaker). Default: unbounded.
   */
  maxPendingRequests?: number;
  /** mTLS (src/tls/mtls-connector.ts): the HTTP/1.1 connector and the HTTP/2 TLS options; plaintext without. */
  tls?: { connector: buildConnector.connector; h2Options(): ConnectionOptions };
}

export function httpEndpoint(address: EndpointAddress, options: HttpEndpointOptions = {}): Service<MeshRequest, MeshResponse> {
  const key = endpointKey(address);
  const defaults = ENDPOINT_DEFAULTS.connection;
  const connectTimeoutMs = options.connectTimeoutMs ?? defaults.connectTimeoutMs;
  const headersTimeoutMs = options.headersTimeoutMs ?? defaults.headersTimeoutMs;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? defaults.bodyTimeoutMs;
  const perConnection = options.maxRequestsPerConnection;
  const poolOptions: Pool.Options = {
    connections: options.connections ?? defaults.connections,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? defaults.keepAliveTimeoutMs,
    connect: { timeout: connectTimeoutMs },
    headersTimeout: headersTimeoutMs,
    bodyTimeout: bodyTimeoutMs,
    // undici lets a connection carry maxRequestsPerClient + 1 requests and reads 0 as unbounded, so
    // N is asked for as N - 1, and one request per connection as requests that close it.
    ...(perConnection !== undefined && perConnection > 1 ? { maxRequestsPerClient: perConnection - 1 } : {}),
  };
  const closeAfterEach = perConnection === 1;
  const maxPending = options.maxPendingRequests;
  const tls = options.tls;
  const pool: Pool = tls ? new Pool(`https://${key}`, { ...poolOptions, connect: tls.connector }) : new Pool(`http://${key}`, poolOptions);
  // Made on the first HTTP/2 request only: most endpoints never see one.
  let h2: H2Endpoint | undefined;
  const h2Endpoint = () =>
    (h2 ??= new H2Endpoint({ host: address.host, port: address.port, key, connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs, ...(tls ? { tls: tls.h2Options } : {}) }));

  return {
    call(req: MeshRequest, ctx: CallContext): Promise<MeshResponse> {
      if (req.protocol === 'h2c') return h2Endpoint().call(req, ctx);
      if (maxPending !== undefined && pool.stats.queued >= maxPending) return Promise.reject(pendingLimitError(key, maxPending, ctx));
      return new Promise<StreamedResponse>((resolve, reject) => {
        const dispatch: Dispatcher.DispatchOptions = { method: req.method, path: req.path, headers: req.headers ?? null, body: req.body ?? null, upgrade: req.upgrade ?? null };
        if (closeAfterEach) dispatch.reset = true;
        pool.dispatch(dispatch, new Http1Exchange(resolve, reject, ctx, key));
      });
    },
    close: () => Promise.all([pool.close(), h2?.close()]).then(() => undefined),
  };
}

function pendingLimitError(endpoint: string, limit: number, ctx: CallContext): MeshError {
  return new MeshError('CONCURRENCY_LIMITED', `service "${ctx.service}": ${limit} request(s) already wait for a connection to ${endpoint} (connection.maxPendingRequests); refused rather than queued`, {
    service: ctx.service,
    route: ctx.route,
    endpoint,
  });
}

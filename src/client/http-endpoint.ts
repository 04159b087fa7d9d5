/**
 * The transport for one endpoint: an undici Pool (keep-alive, bounded connections). undici's
 * `request()` is used rather than `fetch()` on the hot path because it skips the WHATWG stream and
 * Headers machinery, which costs several times the throughput on small requests.
 *
 * Errors are translated into MeshErrors that say whether the request may have reached the app:
 * CONNECT_FAILED means no byte of the request was written (always safe to retry elsewhere);
 * ENDPOINT_FAILED means the connection broke later.
 */
import { Pool, type buildConnector, type Dispatcher } from 'undici';
import { isMeshError, MeshError } from '../core/errors.js';
import type { CallContext, Service } from '../core/service.js';
import { endpointKey, type EndpointAddress } from '../discovery/endpoint-address.js';
import { keepH2Trailers } from './h2-trailers.js';
import type { MeshRequest, MeshResponse } from './http-types.js';

export interface HttpEndpointOptions {
  /** Most connections to this endpoint at once. Default 64. */
  connections?: number;
  /** How long an idle keep-alive connection is kept, ms. Default 4 000 (undici's default). */
  keepAliveTimeoutMs?: number;
  /** Time to establish a TCP connection, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Time to wait for response headers, ms. Default 300 000 (undici's default). */
  headersTimeoutMs?: number;
  /** Longest silence while reading a response body, ms. Default 300 000 (undici's default). */
  bodyTimeoutMs?: number;
  /** mTLS: the connector to use (per protocol), from src/tls/mtls-connector.ts; plaintext without it. */
  tls?: { connector(allowH2: boolean): buildConnector.connector };
}

const CONNECT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** OpenSSL's and Node's certificate and handshake failures. */
const TLS_ERROR_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

export function httpEndpoint(address: EndpointAddress, options: HttpEndpointOptions = {}): Service<MeshRequest, MeshResponse> {
  const key = endpointKey(address);
  const poolOptions: Pool.Options = {
    connections: options.connections ?? 64,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
    connect: { timeout: options.connectTimeoutMs ?? 10_000 },
    headersTimeout: options.headersTimeoutMs ?? 300_000,
    bodyTimeout: options.bodyTimeoutMs ?? 300_000,
  };
  const tls = options.tls;
  const pool = tls ? new Pool(`https://${key}`, { ...poolOptions, connect: tls.connector(false) }) : new Pool(`http://${key}`, poolOptions);
  // Made on the first h2c request only: most endpoints never see one. One HTTP/2 connection
  // multiplexes every stream, so a handful of connections is plenty.
  let h2cPool: Pool | undefined;
  let h2c: Dispatcher | undefined;
  const poolFor = (req: MeshRequest): Dispatcher => {
    if (req.protocol !== 'h2c') return pool;
    if (h2c === undefined) {
      // undici's Pool hands only `connect` options to its connector, so useH2c goes there.
      h2cPool = tls
        ? new Pool(`https://${key}`, { ...poolOptions, connections: 4, allowH2: true, connect: tls.connector(true) })
        : new Pool(`http://${key}`, { ...poolOptions, connections: 4, allowH2: true, connect: { ...poolOptions.connect, useH2c: true } as unknown as Pool.Options['connect'] });
      h2c = h2cPool.compose(keepH2Trailers);
    }
    return h2c;
  };
  return {
    // A plain then-chain rather than async/await: one promise hop less on the hottest line.
    call(req: MeshRequest, ctx: CallContext): Promise<MeshResponse> {
      return poolFor(req)
        .request({ method: req.method, path: req.path, headers: req.headers, body: req.body, signal: ctx.signal })
        .then(undefined, (err: unknown) => {
          throw translateError(err, key, ctx);
        });
    },
    close: () => Promise.all([pool.close(), h2cPool?.close()]).then(() => undefined),
  };
}

function translateError(err: unknown, endpoint: string, ctx: CallContext): unknown {
  // The caller's own abort is reported as the caller's reason, untouched.
  if (ctx.signal?.aborted) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  const where = { service: ctx.service, route: ctx.route, endpoint, cause: err };
  // undici refused the request itself (bad path, method or header): the caller's bug, not the endpoint's.
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_HTTP_TOKEN') {
    return new MeshError('INVALID_REQUEST', `service "${ctx.service}": the request is malformed and was not sent (${detail})`, where);
  }
  if (isMeshError(err, 'TLS_FAILED') || (typeof code === 'string' && TLS_ERROR_CODE.test(code))) {
    return new MeshError('TLS_FAILED', `service "${ctx.service}": mTLS with ${endpoint} failed, nothing was sent (${String(code ?? 'TLS_FAILED')}: ${detail})`, where);
  }
  if (typeof code === 'string' && CONNECT_ERROR_CODES.has(code)) {
    return new MeshError('CONNECT_FAILED', `service "${ctx.service}": could not connect to ${endpoint} (${code}: ${detail})`, where);
  }
  return new MeshError('ENDPOINT_FAILED', `service "${ctx.service}": request to ${endpoint} failed (${String(code ?? 'error')}: ${detail})`, where);
}

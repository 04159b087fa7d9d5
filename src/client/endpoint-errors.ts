/**
 * What went wrong with one endpoint, in the mesh's terms. The distinction that matters is whether
 * the request may have reached the app: CONNECT_FAILED (and TLS_FAILED) mean no byte of it was
 * processed, so it is always safe to try another endpoint; ENDPOINT_FAILED means the exchange broke
 * later, and only a retryable route may be retried.
 */
import { isMeshError, MeshError } from '../core/errors.js';
import type { CallContext } from '../core/service.js';

const CONNECT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  // HTTP/2: the peer refused the stream, or went away before it was processed (RFC 9113 §8.7).
  'ERR_HTTP2_STREAM_REFUSED',
  'ERR_HTTP2_GOAWAY_SESSION',
]);

/** OpenSSL's and Node's certificate and handshake failures. */
const TLS_ERROR_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

export function translateEndpointError(err: unknown, endpoint: string, ctx: CallContext): unknown {
  // The caller's own abort is reported as the caller's reason, untouched.
  if (ctx.signal?.aborted) return err;
  if (isMeshError(err) && err.code !== 'TLS_FAILED') return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  const where = { service: ctx.service, route: ctx.route, endpoint, cause: err };
  // undici refused the request itself (bad path, method or header): the caller's bug, not the endpoint's.
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_HTTP_TOKEN' || code === 'ERR_HTTP2_INVALID_CONNECTION_HEADERS') {
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

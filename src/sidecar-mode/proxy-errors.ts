/**
 * How a failure the mesh raised is answered to a caller that speaks only HTTP: the status a
 * gateway would give (Linkerd and Envoy answer the same way), the MeshError code in
 * `x-meshwork-error` so a client can tell the mesh's refusal from the app's own 503, and the
 * message as the body.
 */
import { isMeshError, type MeshErrorCode } from '../core/errors.js';

const STATUS_BY_CODE: Partial<Record<MeshErrorCode, number>> = {
  INVALID_REQUEST: 400,
  UNKNOWN_SERVICE: 502,
  EGRESS_DENIED: 403,
  CONNECT_FAILED: 502,
  TLS_FAILED: 502,
  ENDPOINT_FAILED: 502,
  NO_ENDPOINTS: 503,
  DISCOVERY_TIMEOUT: 503,
  DISCOVERY_FAILED: 503,
  CIRCUIT_OPEN: 503,
  CONCURRENCY_LIMITED: 503,
  RATE_LIMITED: 503,
  CLIENT_CLOSED: 503,
  TIMEOUT: 504,
  PER_TRY_TIMEOUT: 504,
};

export interface ProxyFailure {
  status: number;
  code: string;
  message: string;
}

export function proxyFailure(err: unknown): ProxyFailure {
  if (isMeshError(err)) return { status: STATUS_BY_CODE[err.code] ?? 502, code: err.code, message: err.message };
  return { status: 502, code: 'PROXY_ERROR', message: err instanceof Error ? err.message : String(err) };
}

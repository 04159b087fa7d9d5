/**
 * Every failure meshwork itself raises is a MeshError with a stable `code`, so callers can branch on
 * the kind of failure without parsing messages, and every message says what to do next.
 */
export type MeshErrorCode =
  | 'INVALID_OPTIONS'
  | 'INVALID_REQUEST'
  | 'UNKNOWN_SERVICE'
  | 'EGRESS_DENIED'
  | 'NO_ENDPOINTS'
  | 'DISCOVERY_TIMEOUT'
  | 'DISCOVERY_FAILED'
  | 'CONNECT_FAILED'
  | 'TLS_FAILED'
  | 'ENDPOINT_FAILED'
  | 'CLIENT_CLOSED'
  | 'REQUEST_ABORTED'
  | 'TIMEOUT'
  | 'PER_TRY_TIMEOUT'
  | 'CIRCUIT_OPEN'
  | 'CONCURRENCY_LIMITED'
  | 'RATE_LIMITED'
  | 'INVALID_CONFIG';

export interface MeshErrorDetails {
  service?: string;
  route?: string;
  endpoint?: string;
  cause?: unknown;
}

export class MeshError extends Error {
  readonly code: MeshErrorCode;
  readonly service: string | undefined;
  readonly route: string | undefined;
  readonly endpoint: string | undefined;

  constructor(code: MeshErrorCode, message: string, details: MeshErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'MeshError';
    this.code = code;
    this.service = details.service;
    this.route = details.route;
    this.endpoint = details.endpoint;
  }
}

export function isMeshError(err: unknown, code?: MeshErrorCode): err is MeshError {
  return err instanceof MeshError && (code === undefined || err.code === code);
}

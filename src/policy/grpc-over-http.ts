/**
 * What the HTTP layers need to know about gRPC riding on them: whether a message is gRPC (its
 * content type), and which gRPC status a gateway gives for an HTTP status. One place, because the
 * fault, retry and metrics filters and the sidecar's forwarding all ask.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpHeaders } from '../http/http-types.js';
import { headerValue } from '../http/header-shapes.js';

/** Whether request headers (in any of undici's shapes) carry a gRPC content type. */
export function isGrpcMessage(headers: HttpHeaders | IncomingHttpHeaders | Record<string, unknown>): boolean {
  return isGrpcContentType(headerValue(headers as HttpHeaders, 'content-type'));
}

/** Whether a Content-Type value is gRPC's (application/grpc, +proto, +json, ...). */
export function isGrpcContentType(type: unknown): boolean {
  return typeof type === 'string' && type.startsWith('application/grpc');
}

/** The gRPC status a gateway gives for an HTTP status (gRPC's "HTTP to gRPC status code mapping"). */
export function grpcStatusForHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/**
 * The request that flows through the HTTP stack, in undici's `request()` shape; the response is in
 * ./mesh-response.ts, a drop-in for an undici one (statusCode, headers, body mixins).
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export type { HttpHeaders } from './header-shapes.js';
import type { HttpHeaders } from './header-shapes.js';

export interface MeshRequest {
  method: Dispatcher.HttpMethod;
  /** Path and query, e.g. `/reviews/1?x=y`. */
  path: string;
  headers?: HttpHeaders;
  body?: string | Buffer | Uint8Array | Readable | null;
  /** Caller's cancellation; also available as ctx.signal. */
  signal?: AbortSignal;
  /**
   * The wire protocol to the endpoint: HTTP/1.1 (default) or HTTP/2 over cleartext with prior
   * knowledge, which gRPC needs. The sidecar keeps whatever the caller spoke.
   */
  protocol?: 'http1' | 'h2c';
  /** The authority the caller addressed, for the metrics' `authority` label; default the service name. */
  authority?: string;
  /** Who sent the request to a proxy's inbound side, for the metrics' `tls` and `client_id` labels. */
  peer?: { tls: boolean; clientId?: string | undefined };
  /** The metrics' `direction` for this request when it is not the client's own (the gateway's calls into the mesh). */
  direction?: 'gateway';
  /**
   * A protocol to switch to (`websocket`): sent with `Connection: upgrade`. A 101 answer carries the
   * connection in `response.upgrade`; any other answer is an ordinary response.
   */
  upgrade?: string;
}

export type { MeshResponse } from './mesh-response.js';

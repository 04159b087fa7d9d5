/**
 * One proxied request, from the server side of the sidecar to a mesh client and back, for
 * HTTP/1.1 and HTTP/2 alike (Node's HTTP/2 compatibility API gives both the same request and
 * response shape). Bodies stream in both directions; only the retry filter buffers a request body,
 * and only a small one on a route that may be retried. Trailers (gRPC's status) are passed on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { MeshError } from '../core/errors.js';
import { LightAbortSignal } from '../core/light-abort-signal.js';
import { isGrpcMessage } from '../filters/grpc-over-http.js';
import type { Logger } from '../core/logger.js';
import type { MeshRequest, MeshResponse } from '../client/http-types.js';
import { addForwardedHeaders, endToEndHeaders } from './proxy-headers.js';
import { proxyFailure } from './proxy-errors.js';

export type ProxyRequest = IncomingMessage | Http2ServerRequest;
export type ProxyResponse = ServerResponse | Http2ServerResponse;

export interface ForwardTarget {
  request(req: MeshRequest): Promise<MeshResponse>;
}

export interface ForwardOptions {
  direction: 'inbound' | 'outbound';
  /** The authority the caller addressed (`words`, `words.default.svc:80`). */
  authority: string;
  /** Path and query to send on. */
  path: string;
  logger: Logger;
  accessLog: boolean;
  /** The label metrics and logs use for the target (the service name, or the authority). */
  label?: string;
  /** Inbound: who called. Its verified SPIFFE ID, if any, is passed to the app in x-meshwork-client-id. */
  peer?: { tls: boolean; clientId: string | undefined };
}

/** The header that tells the app who called it (like Linkerd's l5d-client-id). */
export const CLIENT_ID_HEADER = 'x-meshwork-client-id';

export function isHttp2(req: ProxyRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

export function forward(req: ProxyRequest, res: ProxyResponse, target: ForwardTarget, options: ForwardOptions): void {
  const started = performance.now();
  const h2 = isHttp2(req);
  // LightAbortSignal: Node 20's AbortController showed up at 1.6% of the sidecar's CPU.
  const abort = new LightAbortSignal();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new MeshError('REQUEST_ABORTED', 'the caller closed the connection before the response was complete'));
  });

  const headers = endToEndHeaders(req.headers);
  // HTTP/2 carries the authority as a pseudo-header; the next hop (either protocol) reads Host.
  if (h2 || headers.host === undefined) headers.host = options.authority;
  addForwardedHeaders(headers, req.socket?.remoteAddress, options.authority);
  if (options.direction === 'inbound') {
    // Only the sidecar may say who called: a value the caller sent is dropped, never trusted.
    delete headers[CLIENT_ID_HEADER];
    if (options.peer?.clientId) headers[CLIENT_ID_HEADER] = options.peer.clientId;
  }

  const request: MeshRequest = {
    method: req.method as Dispatcher.HttpMethod,
    path: options.path,
    headers,
    body: hasBody(req) ? (req as Readable) : null,
    signal: abort.asAbortSignal(),
    // gRPC needs HTTP/2 end to end, so it goes on as h2c; any other HTTP/2 request goes on as
    // HTTP/1.1, which every app speaks (the same request, only framed differently).
    protocol: h2 && isGrpcMessage(req.headers) ? 'h2c' : 'http1',
    authority: options.label ?? options.authority,
    ...(options.peer ? { peer: options.peer } : {}),
  };

  const log = (status: number | undefined, error?: string) => {
    if (!options.accessLog) return;
    options.logger.info('access', {
      direction: options.direction,
      method: req.method,
      authority: options.authority,
      path: options.path,
      protocol: h2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
      status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...(options.peer ? { tls: options.peer.tls, clientId: options.peer.clientId } : {}),
      ...(error ? { error } : {}),
    });
  };

  target.request(request).then(
    (response) => relayResponse(response, res, h2, (status, error) => log(status, error)),
    (err: unknown) => {
      if (abort.aborted) return log(undefined, 'REQUEST_ABORTED');
      const failure = proxyFailure(err);
      options.logger.debug('request failed in the mesh', { direction: options.direction, authority: options.authority, path: options.path, code: failure.code, error: failure.message });
      respondWithFailure(res, failure.status, failure.code, failure.message);
      log(failure.status, failure.code);
    },
  );
}

/** Whether the request has a body to send on (a GET without one must not become chunked). */
function hasBody(req: ProxyRequest): boolean {
  if (isHttp2(req)) return !req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function relayResponse(response: MeshResponse, res: ProxyResponse, h2: boolean, log: (status: number, error?: string) => void): void {
  const body = response.body;
  if (res.destroyed) {
    body.destroy();
    return;
  }
  const headers = endToEndHeaders(response.headers as Record<string, string | string[]>);
  delete headers.te;
  let trailers = response.trailers as Record<string, string | string[]> | null;
  if (h2 && headers['grpc-status'] !== undefined) {
    // A gRPC "trailers-only" reply carries its status in the headers. Relayed as headers it would
    // be followed by an empty data frame and no trailers, which a gRPC client reads as INTERNAL;
    // the same status in trailers is the equivalent the compatibility API can send.
    trailers = { ...trailers };
    for (const name of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) {
      if (headers[name] !== undefined) trailers[name] = headers[name]!;
      delete headers[name];
    }
  }
  try {
    res.writeHead(response.statusCode, headers);
  } catch (err) {
    // A header the app sent that this side cannot repeat (invalid for HTTP/2, say).
    body.destroy();
    respondWithFailure(res, 502, 'INVALID_RESPONSE', `the upstream response could not be relayed: ${(err as Error).message}`);
    log(502, 'INVALID_RESPONSE');
    return;
  }
  body.on('error', (err: Error) => {
    log(response.statusCode, `body: ${err.message}`);
    res.destroy(err);
  });
  body.pipe(res as NodeJS.WritableStream, { end: false });
  body.once('end', () => {
    if (trailers && Object.keys(trailers).length > 0) {
      // gRPC's status travels here; over HTTP/1.1 Node sends trailers only on a chunked response.
      if (h2 || !res.hasHeader('content-length')) res.addTrailers(trailers as Record<string, string>);
    }
    res.end();
    log(response.statusCode);
  });
}

export function respondWithFailure(res: ProxyResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'x-meshwork-error': code,
  });
  res.end(text);
}

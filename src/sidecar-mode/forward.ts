/**
 * One proxied request, from the server side of the sidecar to a mesh client and back, for
 * HTTP/1.1 and HTTP/2 alike (Node's HTTP/2 compatibility API gives both the same request and
 * response shape). The request body streams to the endpoint; the response's head is written as the
 * flat header list it arrived as (hop-by-hop fields filtered out), and its chunks are written as
 * the endpoint delivers them, pausing the endpoint while the caller's socket is full. Trailers
 * (gRPC's status) are passed on. Only the retry filter buffers a request body, and only a small
 * one on a route that may be retried.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { MeshError } from '../core/errors.js';
import { LightAbortSignal } from '../core/light-abort-signal.js';
import { isGrpcMessage } from '../policy/grpc-over-http.js';
import { DEADLINE_HEADER } from '../policy/deadline-header.js';
import type { Logger } from '../core/logger.js';
import type { MeshRequest } from '../http/http-types.js';
import type { HeaderRecord, MeshResponse, ResponseBodySink } from '../http/mesh-response.js';
import { addForwardedHeaders, CLIENT_ID_HEADER, endToEndHeaders, endToEndRawHeaders, forwardedRequestHeaders, HOPS_HEADER, rawHeader } from './proxy-headers.js';
import { nextHop } from './hop-limit.js';
import { proxyFailure } from './proxy-errors.js';

export type ProxyRequest = IncomingMessage | Http2ServerRequest;
export type ProxyResponse = ServerResponse | Http2ServerResponse;

export interface ForwardTarget {
  request(req: MeshRequest): Promise<MeshResponse>;
}

export interface ForwardOptions {
  direction: 'inbound' | 'outbound' | 'gateway';
  /** The authority the caller addressed (`words`, `words.default.svc:80`). */
  authority: string;
  /** Path and query to send on. */
  path: string;
  logger: Logger;
  accessLog: boolean;
  /** The label metrics and logs use for the target (the service name, or the authority). */
  label?: string;
  /** Refuse a request that has already passed this many sidecars (x-meshwork-hops). */
  maxHops: number;
  /** Inbound: who called. Its verified SPIFFE ID, if any, is passed to the app in x-meshwork-client-id. */
  peer?: { tls: boolean; clientId: string | undefined };
  /** Gateway: how the caller connected; its Host, X-Forwarded-* and x-meshwork-client-id are replaced. */
  edgeProto?: 'http' | 'https';
}

/** The header that tells the app who called it (like Linkerd's l5d-client-id). */

const GRPC_STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'];

export function isHttp2(req: ProxyRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

export function forward(req: ProxyRequest, res: ProxyResponse, target: ForwardTarget, options: ForwardOptions): void {
  const hops = nextHop(req, options.maxHops);
  if (typeof hops !== 'number') {
    options.logger.debug('request refused', { direction: options.direction, authority: options.authority, path: options.path, code: hops.code, error: hops.message });
    return respondWithFailure(res, hops.status, hops.code, hops.message);
  }
  const exchange = new ProxiedExchange(req, res, options);
  const h2 = exchange.h2;
  const request: MeshRequest = {
    method: req.method as Dispatcher.HttpMethod,
    path: options.path,
    headers: forwardedHeaders(req, options, hops, h2),
    body: hasBody(req) ? (req as Readable) : null,
    signal: exchange.abort.asAbortSignal(),
    // gRPC needs HTTP/2 end to end, so it goes on as h2c; any other HTTP/2 request goes on as
    // HTTP/1.1, which every app speaks (the same request, only framed differently).
    protocol: h2 && isGrpcMessage(req.headers) ? 'h2c' : 'http1',
    authority: options.label ?? options.authority,
  };
  if (options.peer) request.peer = options.peer;
  if (options.direction === 'gateway') request.direction = 'gateway';
  target.request(request).then(exchange.onResponse, exchange.onFailure);
}

/**
 * One proxied request's state, and the sink its response's body is written through. One object
 * per request, its callbacks on the prototype: the per-request closures it replaces (close, log,
 * response, failure, drain and three sink callbacks) were a measurable share of the sidecar's
 * allocation.
 */
class ProxiedExchange implements ResponseBodySink {
  readonly req: ProxyRequest;
  readonly res: ProxyResponse;
  readonly options: ForwardOptions;
  readonly h2: boolean;
  // LightAbortSignal: Node 20's AbortController showed up at 1.6% of the sidecar's CPU.
  readonly abort = new LightAbortSignal();
  readonly started: number;
  response: MeshResponse | undefined = undefined;
  trailers: HeaderRecord | undefined = undefined;
  contentLength = false;

  constructor(req: ProxyRequest, res: ProxyResponse, options: ForwardOptions) {
    this.req = req;
    this.res = res;
    this.options = options;
    this.h2 = isHttp2(req);
    this.started = options.accessLog ? performance.now() : 0;
    res.on('close', this.onClose);
  }

  readonly onClose = (): void => {
    if (this.res.writableFinished) return;
    const reason = new MeshError('REQUEST_ABORTED', 'the caller closed the connection before the response was complete');
    this.abort.abort(reason);
    this.response?.abort(reason);
  };

  readonly onResponse = (response: MeshResponse): void => {
    this.response = response;
    this.relay(response);
  };

  readonly onFailure = (err: unknown): void => {
    if (this.abort.aborted) return this.log(undefined, 'REQUEST_ABORTED');
    const failure = proxyFailure(err);
    const { options } = this;
    options.logger.debug('request failed in the mesh', { direction: options.direction, authority: options.authority, path: options.path, code: failure.code, error: failure.message });
    respondWithFailure(this.res, failure.status, failure.code, failure.message);
    this.log(failure.status, failure.code);
  };

  relay(response: MeshResponse): void {
    const res = this.res;
    if (res.destroyed) {
      response.abort(new MeshError('REQUEST_ABORTED', 'the caller went away before the response arrived'));
      return;
    }
    const head = endToEndRawHeaders(response.rawHeaders);
    this.contentLength = head.contentLength;
    if (this.h2 && response.header('grpc-status') !== undefined) {
      // A gRPC "trailers-only" reply carries its status in the headers. Relayed as headers it would
      // be followed by an empty data frame and no trailers, which a gRPC client reads as INTERNAL;
      // the same status in trailers is the equivalent the compatibility API can send.
      const trailers: HeaderRecord = {};
      for (let i = 0; i < head.fields.length; ) {
        const name = head.fields[i]!.toLowerCase();
        if (GRPC_STATUS_FIELDS.includes(name)) {
          trailers[name] = head.fields[i + 1]!;
          head.fields.splice(i, 2);
        } else i += 2;
      }
      this.trailers = trailers;
    }
    try {
      // Node takes a flat [name, value, ...] list as it is: no header object is built on the way through.
      (res as ServerResponse).writeHead(response.statusCode, head.fields as unknown as Record<string, string>);
    } catch (err) {
      // A header the app sent that this side cannot repeat (invalid for HTTP/2, say).
      response.abort(err as Error);
      respondWithFailure(res, 502, 'INVALID_RESPONSE', `the upstream response could not be relayed: ${(err as Error).message}`);
      this.log(502, 'INVALID_RESPONSE');
      return;
    }
    res.on('drain', this.onDrain);
    response.sendBodyTo(this);
  }

  readonly onDrain = (): void => {
    this.response?.resume();
  };

  onData(chunk: Buffer): boolean {
    return (this.res as ServerResponse).write(chunk);
  }

  onEnd(received: HeaderRecord): void {
    const all = this.trailers === undefined ? received : { ...this.trailers, ...received };
    // gRPC's status travels here; over HTTP/1.1 Node sends trailers only on a chunked response.
    if (hasFields(all) && (this.h2 || !this.contentLength)) this.res.addTrailers(all as Record<string, string>);
    this.res.end();
    this.log(this.response!.statusCode);
  }

  onError(err: Error): void {
    this.log(this.response?.statusCode, `body: ${err.message}`);
    this.res.destroy(err);
  }

  log(status: number | undefined, error?: string): void {
    const { options, req } = this;
    if (!options.accessLog) return;
    options.logger.info('access', {
      direction: options.direction,
      method: req.method,
      authority: options.authority,
      path: options.path,
      protocol: this.h2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
      status,
      durationMs: Math.round((performance.now() - this.started) * 1000) / 1000,
      ...(options.peer ? { tls: options.peer.tls, clientId: options.peer.clientId } : {}),
      ...(error ? { error } : {}),
    });
  }
}

/**
 * The headers sent on: the end-to-end ones (RFC 9110 §7.6.1), the Host the caller addressed,
 * X-Forwarded-*, and inbound, the caller's verified identity (one the caller sent is dropped).
 * HTTP/1.1 requests are read from their raw list (proxy-headers.ts), so Node never builds a header
 * object for a request that is only passed on.
 */
export function forwardedHeaders(req: ProxyRequest, options: ForwardOptions, hops: number, h2 = isHttp2(req)): HeaderRecord | string[] {
  if (!h2) {
    return forwardedRequestHeaders(req.rawHeaders, {
      authority: options.authority,
      clientAddress: req.socket?.remoteAddress,
      hops,
      ...(options.direction !== 'outbound' ? { clientIdHeader: { name: CLIENT_ID_HEADER, value: options.peer?.clientId } } : {}),
      ...(options.edgeProto ? { edgeProto: options.edgeProto } : {}),
    });
  }
  const headers = endToEndHeaders(req.headers);
  // HTTP/2 carries the authority as a pseudo-header; the next hop (either protocol) reads Host.
  headers.host = options.authority;
  if (options.edgeProto) {
    delete headers['x-forwarded-for'];
    delete headers['x-forwarded-host'];
    delete headers[DEADLINE_HEADER];
    headers['x-forwarded-proto'] = options.edgeProto;
  }
  addForwardedHeaders(headers, req.socket?.remoteAddress, options.authority);
  headers[HOPS_HEADER] = String(hops);
  if (options.direction !== 'outbound') {
    delete headers[CLIENT_ID_HEADER];
    if (options.peer?.clientId) headers[CLIENT_ID_HEADER] = options.peer.clientId;
  }
  return headers;
}

/** Whether the request has a body to send on (a GET without one must not become chunked). */
export function hasBody(req: ProxyRequest): boolean {
  if (isHttp2(req)) return !req.stream.endAfterHeaders;
  const length = rawHeader(req.rawHeaders, 'content-length');
  if (length !== undefined) return length !== '0';
  return rawHeader(req.rawHeaders, 'transfer-encoding') !== undefined;
}

function hasFields(record: HeaderRecord): boolean {
  for (const _ in record) return true;
  return false;
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

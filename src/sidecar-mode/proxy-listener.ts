/**
 * One listening port that speaks HTTP/1.1 and HTTP/2 over cleartext at once: the first bytes of a
 * connection say which (an HTTP/2 client with prior knowledge opens with the fixed preface
 * `PRI * HTTP/2.0`), and the connection is handed to Node's HTTP/1.1 or HTTP/2 server accordingly.
 * gRPC clients, curl --http2-prior-knowledge and ordinary HTTP/1.1 clients all use the same port.
 *
 * It also counts requests in flight, so that a drain can wait for them, and answers requests the
 * HTTP/1.1 parser rejects (conflicting Content-Length and Transfer-Encoding, bad chunking, headers
 * over the limit) with a 4xx of its own: such a request never reaches a handler.
 *
 * A caller gets bounded time and room (ListenerLimits): headers and the whole request must arrive in
 * time (slow loris, slow uploads), a connection on which nothing moves is closed (idle keep-alive,
 * a caller that stopped reading), and connections and requests in progress are capped, so a hostile
 * or broken client costs a slot for a while and never the service to everyone else.
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../core/logger.js';
import type { HostPort } from '../config/listen-address.js';
import type { ListenerLimits } from '../config/sidecar-schema.js';
import { respondWithFailure } from './forward.js';
import type { ReportRefusal } from './listener-refusals.js';
import { endWithStatus } from './raw-response.js';
import { describeTlsClientError } from './tls-refusal.js';

export type RequestHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ProxyListener {
  readonly address: HostPort;
  /** Requests whose response has not finished. */
  inFlight(): number;
  /**
   * Stops accepting connections, lets requests in flight finish (idle keep-alive connections are
   * closed, HTTP/2 sessions get a GOAWAY), and after `graceMs` cuts whatever is left.
   * Resolves true when everything finished within the grace period.
   */
  drain(graceMs: number): Promise<boolean>;
}

export interface ProxyListenerOptions {
  name: string;
  /** mTLS: connections that open with a TLS handshake go to this server; plaintext only if permissive. */
  tls?: { mode(): 'strict' | 'permissive' | 'off'; server: Http2SecureServer };
  handler: RequestHandler;
  onUpgrade?: UpgradeHandler;
  maxHeaderBytes: number;
  limits: ListenerLimits;
  refused: ReportRefusal;
  logger: Logger;
}

/** What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** The first byte of every TLS connection (a handshake record); no HTTP/1.1 method starts with it. */
const TLS_HANDSHAKE = 0x16;

export async function listenProxy(address: HostPort, options: ProxyListenerOptions): Promise<ProxyListener> {
  const { logger, name, limits, refused } = options;
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();

  // One listener for every response (no closure per request): 'close' comes once per response.
  const onResponseClose = () => {
    inFlight--;
    if (draining && inFlight === 0) drained?.();
  };
  const handle: RequestHandler = (req, res) => {
    if (inFlight >= limits.maxRequestsInFlight) {
      refused('max_requests_in_flight', { remote: req.socket?.remoteAddress });
      res.setHeader('retry-after', '1');
      respondWithFailure(res, 503, 'OVERLOADED', `this sidecar's ${name} listener has ${limits.maxRequestsInFlight} requests in progress (maxRequestsInFlight); retry shortly`);
      return;
    }
    inFlight++;
    res.on('close', onResponseClose);
    // Node sets no inactivity timeout again on a kept-alive connection's later requests; this does.
    if (req.httpVersionMajor === 1) req.socket.setTimeout(limits.streamIdleTimeoutMs);
    // While draining, HTTP/1.1 callers are told to reconnect elsewhere after this response.
    if (draining && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    try {
      options.handler(req, res);
    } catch (err) {
      logger.error('request handler failed', { listener: name, error: (err as Error).message });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal proxy error\n');
      } else res.destroy();
    }
  };

  // Node refuses a headers timeout longer than the request timeout; the request's bounds the headers'.
  const headersTimeout = limits.requestTimeoutMs > 0 ? Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) : limits.headersTimeoutMs;
  const http1 = createHttpServer(
    {
      maxHeaderSize: options.maxHeaderBytes,
      requireHostHeader: false,
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // Node looks for requests past their time on this interval (30 s by default): a short timeout
      // needs a shorter look, or it is only enforced up to 30 s late.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, headersTimeout / 4)),
    },
    handle,
  );
  // This server never listens itself (connections are handed to it), and Node starts the tracking
  // that enforces headersTimeout and requestTimeout, and that closeIdleConnections() reads, only on
  // 'listening': without this, neither timeout was ever applied.
  http1.emit('listening');
  // A connection on which nothing moves; between requests, keepAliveTimeout (idleTimeout) applies instead.
  http1.timeout = limits.streamIdleTimeoutMs;
  http1.on('timeout', (socket: Socket) => {
    refused((socket as { _httpMessage?: unknown })._httpMessage ? 'stream_idle_timeout' : 'idle_timeout', { remote: socket.remoteAddress });
    socket.destroy();
  });
  http1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A caller that hung up (reset, or closed half way) sent nothing wrong; there is no one to answer.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      logger.debug('connection closed by the caller', { listener: name, code: err.code });
      socket.destroy();
      return;
    }
    const remote = (socket as Socket).remoteAddress;
    // Node reports both timeouts with one code: a request whose headers were complete broke the request timeout.
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const response = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : timedOut ? 408 : 400;
    refused(timedOut ? (response ? 'request_timeout' : 'headers_timeout') : status === 431 ? 'header_too_large' : 'malformed_request', { status, code: err.code, error: err.message, remote });
    const answer = () => {
      const current = (socket as { _httpMessage?: ServerResponse })._httpMessage;
      // Once a response has started there is no room for a status of our own: the connection is cut.
      if (socket.writable && !(socket as Socket).destroyed && !current?.headersSent) endWithStatus(socket, status, `${STATUS_CODES[status]}: ${err.code ?? 'malformed request'}`);
      else socket.destroy();
    };
    // The bad request was pipelined behind whole ones still being answered: their answers go first,
    // in order, then the 4xx. Answering at once would hand the 4xx to an earlier request (whose app
    // did run it), and cutting would lose its answer. Node gives the socket to the next queued
    // response as the previous one finishes, so each is waited for in turn.
    const afterPendingAnswers = () => {
      const pending = (socket as { _httpMessage?: ServerResponse })._httpMessage;
      // Finished is not enough: a response written while it waited its turn can be finished and still
      // hold the socket until Node detaches it, just before its 'close'.
      if (pending && pending.req.complete) pending.once('close', afterPendingAnswers);
      else answer();
    };
    afterPendingAnswers();
  });
  if (options.onUpgrade) http1.on('upgrade', options.onUpgrade);

  const http2 = createHttp2Server({ maxSessionMemory: 64, settings: { maxHeaderListSize: options.maxHeaderBytes } }, handle);
  // A session on which no frame moves either way (pings included) for streamIdleTimeout is closed.
  http2.setTimeout(limits.streamIdleTimeoutMs);
  (http2 as NodeJS.EventEmitter).on('timeout', (session: Http2Session) => {
    logger.debug('HTTP/2 session closed: nothing moved on it for streamIdleTimeout', { listener: name });
    session.destroy();
  });
  http2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (draining) session.close();
  });
  http2.on('sessionError', (err: Error) => logger.warn('HTTP/2 session error', { listener: name, error: err.message }));

  const secure = options.tls?.server;
  if (secure) {
    // The same request handling (in-flight count, drain) for requests that arrive over mTLS.
    secure.on('request', handle);
    if (options.onUpgrade) secure.on('upgrade', options.onUpgrade);
    secure.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      if (draining) session.close();
    });
    // Ahead of the HTTP/2 server's own handler, which destroys the socket: its address is still there.
    secure.prependListener('tlsClientError', (err: Error, socket: TLSSocket) => {
      const { refused, fields } = describeTlsClientError(err, socket);
      if (refused) logger.warn('mTLS handshake refused', { listener: name, ...fields });
      else logger.debug('the caller closed the connection during the TLS handshake', { listener: name, ...fields });
    });
  }

  // noDelay here, for every path: Node's HTTP/1.1 server sets it on its own sockets, but a socket
  // handed to the TLS server would keep Nagle's algorithm, which held small mTLS responses back for
  // tens of milliseconds (half the throughput of plaintext without it).
  const tcp = createTcpServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) => {
    if (sockets.size >= limits.maxConnections) {
      refused('max_connections', { remote: socket.remoteAddress });
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // The protocol is decided on the first bytes: a TLS handshake at once; HTTP/2 only once all 24
    // bytes of its preface are there, since an HTTP/1.1 request may arrive a byte at a time ("P" of
    // POST or PUT is the preface's first byte too).
    let seen: Buffer | undefined;
    // A connection that says nothing (or only part of a preface) is not kept for ever: the first
    // bytes are the start of the first request's headers.
    const onSilence = () => {
      refused('headers_timeout', { remote: socket.remoteAddress, before: 'the protocol was known' });
      socket.destroy();
    };
    socket.setTimeout(headersTimeout, onSilence);
    const onData = (chunk: Buffer) => {
      seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
      const kind = sniff(seen, options.tls !== undefined && options.tls.mode() !== 'off');
      if (kind === 'undecided') return;
      socket.setTimeout(0);
      socket.off('timeout', onSilence);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      dispatch(socket, kind);
    };
    socket.on('data', onData);
  });

  const dispatch = (socket: Socket, kind: 'tls' | 'h2' | 'http1') => {
    if (kind === 'tls') {
      // As with HTTP/2: the TLS layer takes the buffered bytes and reads the handle itself.
      options.tls!.server.emit('connection', socket);
      return;
    }
    if (options.tls?.mode() === 'strict') {
      logger.warn('plaintext connection refused: this listener requires mTLS', { listener: name, remote: socket.remoteAddress });
      endWithStatus(socket, 403, 'this port requires mTLS (a client certificate from the mesh)', 'TLS_REQUIRED');
      return;
    }
    if (kind === 'h2') {
      // The HTTP/2 session takes the socket's buffered bytes and then reads the handle itself.
      http2.emit('connection', socket);
    } else {
      http1.emit('connection', socket);
      socket.resume();
    }
  };

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(address.port, address.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  tcp.on('error', (err) => logger.error('listener error', { listener: name, error: err.message }));
  const bound = tcp.address() as AddressInfo;

  return {
    address: { host: bound.address, port: bound.port },
    inFlight: () => inFlight,
    async drain(graceMs) {
      draining = true;
      tcp.close();
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
      options.tls?.server.close();
      const finished = inFlight === 0 || (await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), graceMs);
        timer.unref();
        drained = () => {
          clearTimeout(timer);
          resolve(true);
        };
      }));
      // Whatever is left after the grace period (or idle sockets of a finished drain) is cut.
      http1.closeAllConnections();
      http1.close();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      return finished;
    },
  };
}

/** Which server a connection belongs to, from its first bytes; undecided while they could still be the HTTP/2 preface. */
export function sniff(bytes: Buffer, tlsPossible: boolean): 'tls' | 'h2' | 'http1' | 'undecided' {
  if (tlsPossible && bytes[0] === TLS_HANDSHAKE) return 'tls';
  const n = Math.min(bytes.length, H2_PREFACE.length);
  if (bytes.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'http1';
  return n === H2_PREFACE.length ? 'h2' : 'undecided';
}

/**
 * HTTP/2 to one endpoint (cleartext with prior knowledge, or over mTLS negotiated by ALPN), on
 * Node's own http2 client. gRPC needs it: streams of messages, and the status in trailers.
 *
 * Why not undici's HTTP/2 client: undici 7 completes a request when the trailers arrive and removes
 * its data listeners, so whatever the stream still buffers behind backpressure (a slow reader) is
 * dropped, the stream is never read to its end, and its flow-control window is never returned, so
 * after a few such streams the connection stalls. It also hands HTTP/2 trailers to `request()` in a
 * shape that loses them. Here the response ends on the stream's 'end', after its last byte, with
 * the trailers that came before it.
 *
 * One session per endpoint carries every stream (HTTP/2 multiplexes); a session that goes away
 * (GOAWAY, error, close) is replaced on the next request, and its streams in flight finish.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { MeshError } from '../core/errors.js';
import type { CallContext } from '../core/service.js';
import { translateEndpointError } from './endpoint-errors.js';
import type { MeshRequest } from '../http/http-types.js';
import { headerRecord } from '../http/header-shapes.js';
import { StreamedResponse, type BodySource, type HeaderRecord } from '../http/mesh-response.js';

export interface H2EndpointOptions {
  host: string;
  port: number;
  /** `host:port`, for errors and the default :authority. */
  key: string;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** mTLS: the TLS options for a new connection (the identity may have rotated); cleartext without. */
  tls?: () => ConnectionOptions;
}

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); `te` is allowed only as "trailers". */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

export class H2Endpoint {
  readonly #options: H2EndpointOptions;
  #session: ClientHttp2Session | undefined;
  #connecting: Promise<ClientHttp2Session> | undefined;
  readonly #sessions = new Set<ClientHttp2Session>();
  #open = 0;
  #closed = false;

  constructor(options: H2EndpointOptions) {
    this.#options = options;
  }

  call(req: MeshRequest, ctx: CallContext): Promise<StreamedResponse> {
    if (this.#closed) return Promise.reject(new MeshError('CLIENT_CLOSED', `the connection to ${this.#options.key} is closed`, { service: ctx.service, endpoint: this.#options.key }));
    const session = this.#session;
    if (session !== undefined && !session.closed && !session.destroyed) return this.#send(session, req, ctx);
    return this.#connect().then(
      (ready) => this.#send(ready, req, ctx),
      (err: unknown) => {
        throw translateEndpointError(err, this.#options.key, ctx);
      },
    );
  }

  /** Lets streams in flight finish, then closes every session. */
  close(): Promise<void> {
    this.#closed = true;
    this.#session = undefined;
    return Promise.all([...this.#sessions].map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.close(() => resolve()))))).then(() => undefined);
  }

  #connect(): Promise<ClientHttp2Session> {
    if (this.#connecting !== undefined) return this.#connecting;
    const { host, port, tls, connectTimeoutMs } = this.#options;
    const authority = `${tls ? 'https' : 'http'}://${this.#options.key}`;
    const connecting = new Promise<ClientHttp2Session>((resolve, reject) => {
      const session = connect(authority, {
        ...(tls ? { createConnection: () => tlsConnect({ ...tls(), host, port, ALPNProtocols: ['h2'] }) } : {}),
        // A proxy's window: enough for a few large gRPC messages in flight per stream.
        settings: { initialWindowSize: 1 << 20 },
      });
      const timer = setTimeout(() => session.destroy(Object.assign(new Error(`connect timeout after ${connectTimeoutMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' })), connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      session.once('error', fail);
      session.once('connect', () => {
        clearTimeout(timer);
        session.off('error', fail);
        this.#adopt(session);
        resolve(session);
      });
    });
    this.#connecting = connecting;
    const forget = () => (this.#connecting = undefined);
    connecting.then(forget, forget);
    return connecting;
  }

  #adopt(session: ClientHttp2Session): void {
    this.#sessions.add(session);
    this.#session = session;
    // Idle, a session must not keep the process alive; #send refs it while streams are open.
    session.unref();
    const retire = () => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('goaway', retire);
    session.on('error', retire);
    session.once('close', () => {
      retire();
      this.#sessions.delete(session);
    });
    if (this.#closed) session.close();
  }

  #send(session: ClientHttp2Session, req: MeshRequest, ctx: CallContext): Promise<StreamedResponse> {
    const { key, headersTimeoutMs, bodyTimeoutMs } = this.#options;
    const body = req.body;
    const endStream = body === undefined || body === null || (typeof body === 'string' && body.length === 0) || (body instanceof Uint8Array && body.length === 0);
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(requestHeaders(req, key, this.#options.tls ? 'https' : 'http'), { endStream });
    } catch (err) {
      return Promise.reject(translateEndpointError(err, key, ctx));
    }
    if (this.#open++ === 0) session.ref();
    stream.once('close', () => {
      if (--this.#open === 0 && !session.destroyed) session.unref();
    });
    if (!endStream) writeBody(stream, body!);

    return new Promise<StreamedResponse>((resolve, reject) => {
      let response: StreamedResponse | undefined;
      let trailers: HeaderRecord | null = null;
      const signal = ctx.signal;
      const fail = (err: Error) => {
        const translated = translateEndpointError(err, key, ctx) as Error;
        if (response !== undefined) response.fail(translated);
        else reject(translated);
      };
      const onAbort = () => {
        stream.close(constants.NGHTTP2_CANCEL);
        fail(signal!.reason as Error);
      };
      if (signal !== undefined) {
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      const source: BodySource = {
        resume: () => stream.resume(),
        abort: () => stream.close(constants.NGHTTP2_CANCEL),
      };
      stream.setTimeout(headersTimeoutMs, () => {
        stream.close(constants.NGHTTP2_CANCEL);
        fail(Object.assign(new Error(response ? `body timeout after ${bodyTimeoutMs} ms` : `headers timeout after ${headersTimeoutMs} ms`), { code: response ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT' }));
      });
      stream.once('response', (headers: IncomingHttpHeaders) => {
        stream.setTimeout(bodyTimeoutMs);
        response = new StreamedResponse(Number(headers[':status']), '', withoutPseudo(headers), undefined, source);
        stream.on('data', (chunk: Buffer) => {
          if (!response!.push(chunk)) stream.pause();
        });
        resolve(response);
      });
      stream.once('trailers', (headers: IncomingHttpHeaders) => {
        trailers = withoutPseudo(headers);
      });
      // 'end' comes after the last DATA frame has been read, however long a slow reader took:
      // only then is the response complete.
      stream.once('end', () => {
        signal?.removeEventListener('abort', onAbort);
        if (response !== undefined) response.end(trailers);
      });
      stream.once('error', (err: Error) => {
        signal?.removeEventListener('abort', onAbort);
        fail(err);
      });
      stream.once('close', () => {
        signal?.removeEventListener('abort', onAbort);
        if (response !== undefined && stream.readableEnded) return;
        const code = stream.rstCode;
        if (code === constants.NGHTTP2_REFUSED_STREAM) {
          fail(Object.assign(new Error('the endpoint refused the stream (REFUSED_STREAM)'), { code: 'ERR_HTTP2_STREAM_REFUSED' }));
        } else {
          fail(Object.assign(new Error(`the stream closed before the response was complete (RST_STREAM code ${code ?? 'none'})`), { code: 'ERR_HTTP2_STREAM_CLOSED' }));
        }
      });
    });
  }
}

function requestHeaders(req: MeshRequest, key: string, scheme: 'http' | 'https'): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': req.method, ':path': req.path, ':scheme': scheme };
  const headers = headerRecord(req.headers) ?? {};
  for (const name in headers) {
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 58) continue;
    const value = headers[name]!;
    if (name === 'te') {
      if (/\btrailers\b/i.test(String(value))) out.te = 'trailers';
      continue;
    }
    out[name] = value;
  }
  const host = headers.host;
  out[':authority'] = (Array.isArray(host) ? host[0] : host) ?? key;
  return out;
}

function withoutPseudo(headers: IncomingHttpHeaders): HeaderRecord {
  const out: HeaderRecord = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Sends the request body with backpressure; a body that fails cancels the stream. */
function writeBody(stream: ClientHttp2Stream, body: NonNullable<MeshRequest['body']>): void {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    stream.end(body);
    return;
  }
  const source = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
  source.once('error', () => stream.close(constants.NGHTTP2_CANCEL));
  // The endpoint answered without reading all of it: what is left is drained, not sent.
  stream.once('close', () => {
    if (source.readableEnded) return;
    source.unpipe(stream);
    source.resume();
  });
  source.pipe(stream);
}

/**
 * A response as it crosses the stack. Its head (status, headers) is known when the promise
 * resolves, which is all the filters decide on; its body is still at the source (an undici
 * connection, an HTTP/2 stream) until one consumer asks for it: up to 64 KiB of it is read ahead
 * (a small body usually arrives with its head), then the source is paused. The consumer is one of:
 *
 * - `sendBodyTo(sink)`: chunks by callback, with backpressure (the sidecar's relay and the mesh
 *   dispatcher hand them straight to a server response or to fetch's handler);
 * - `body`: a Readable with undici's text/json/dump mixins, made on first access (callers of
 *   `meshClient.request()` get the same shape as undici's `request()`);
 * - `discard()`: read and drop (a response that will be retried), or cut the connection when the
 *   rest is too large to be worth reading.
 *
 * This is undici's own dispatch design (a handler of callbacks), kept through the stack: no
 * intermediate stream exists unless a caller reads `.body`, which measured as most of the cost of
 * relaying a small response (benchmarks/RESULTS.md). Layers that care about the end of the body
 * (metrics for a gRPC status in trailers) register `onSettled` rather than wrap the body.
 */
import type { Duplex } from 'node:stream';
import { ResponseBody } from './response-body.js';

export type { HeaderRecord } from './header-shapes.js';
export { flattenHeaders, parseRawHeaders } from './header-shapes.js';
import { flattenHeaders, parseRawHeaders, type HeaderRecord } from './header-shapes.js';

/** Where a body's chunks go. `onData` returning false pauses the source until `resume()`. */
export interface ResponseBodySink {
  onData(chunk: Buffer): boolean;
  onEnd(trailers: HeaderRecord): void;
  onError(error: Error): void;
}

/** The producer's side: what the response asks of the connection or stream it reads from. */
export interface BodySource {
  /** Carry on after `push` returned false (or, at first, once a consumer is there). */
  resume(): void;
  abort(reason: Error): void;
}

export interface MeshResponse {
  readonly statusCode: number;
  readonly statusText: string;
  /** Header names in lower case; repeated headers as arrays (undici's `request()` shape). */
  readonly headers: HeaderRecord;
  /** The head as it arrived: name, value, name, value, ... (names as the peer spelled them). */
  readonly rawHeaders: readonly (string | Buffer)[];
  /** One header by lower-case name, without building `headers`. */
  header(name: string): string | string[] | undefined;
  /** Filled when the body has ended. */
  trailers: HeaderRecord;
  /** The body as a Readable with text()/json()/arrayBuffer()/bytes()/blob()/dump() (made on first access). */
  readonly body: ResponseBody;
  /** A 101 Switching Protocols answer to an upgrade request: the connection, now the caller's. */
  readonly upgrade: { socket: Duplex; head: Buffer } | undefined;
  readonly opaque: null;
  readonly context: object;
  /** Delivers the body by callbacks. A body has one consumer: this, `body`, or `discard()`. */
  sendBodyTo(sink: ResponseBodySink): void;
  /** After a sink's `onData` returned false: carry on. */
  resume(): void;
  /** Reads and drops up to `limitBytes` (the connection is then reused); beyond that, cuts it. */
  discard(limitBytes?: number): void;
  /** Stops the body where it is; the sink (if any) gets `onError(reason)`. */
  abort(reason?: Error): void;
  /** Called once, when the body has ended (no error) or failed. */
  onSettled(listener: (error: Error | undefined) => void): void;
}

/** The part of a response its producer drives. */
export interface ResponseFeed {
  /** A chunk from the source; false asks the source to pause. */
  push(chunk: Buffer): boolean;
  end(trailers: HeaderRecord | null): void;
  fail(error: Error): void;
}

/** How much of a body is read ahead before anyone asks for it (a Readable's default high-water mark). */
const QUEUE_LIMIT_BYTES = 64 * 1024;

/** undici's default dump limit: past it, reading a body to reuse its connection costs more than a new one. */
export const DISCARD_LIMIT_BYTES = 131_072;

const EMPTY: HeaderRecord = Object.freeze({}) as HeaderRecord;
const NO_SOURCE: BodySource = { resume() {}, abort() {} };

export class StreamedResponse implements MeshResponse, ResponseFeed {
  readonly statusCode: number;
  readonly statusText: string;
  readonly opaque = null;
  readonly context: object = EMPTY;
  trailers: HeaderRecord = EMPTY;
  upgrade: { socket: Duplex; head: Buffer } | undefined = undefined;
  #raw: readonly (string | Buffer)[] | undefined;
  #headers: HeaderRecord | undefined;
  #source: BodySource;
  #sink: ResponseBodySink | undefined = undefined;
  #readable: ResponseBody | undefined = undefined;
  /** Chunks that arrived before a consumer, or that wait while it is paused. */
  #queue: Buffer[] | undefined = undefined;
  #queuedBytes = 0;
  #paused = false;
  /** The source has delivered everything (`end`) or failed. */
  #ended = false;
  #error: Error | undefined = undefined;
  /** The consumer has been told the outcome. */
  #settled = false;
  #listeners: ((error: Error | undefined) => void)[] | undefined = undefined;

  /** `headers` as an object (HTTP/2, made-up responses), or `raw` as undici's flat list (HTTP/1.1). */
  constructor(statusCode: number, statusText: string, headers: HeaderRecord | undefined, raw: readonly (string | Buffer)[] | undefined, source: BodySource = NO_SOURCE) {
    this.statusCode = statusCode;
    this.statusText = statusText;
    this.#headers = headers;
    this.#raw = raw;
    this.#source = source;
  }

  get headers(): HeaderRecord {
    return (this.#headers ??= parseRawHeaders(this.#raw ?? []));
  }

  get rawHeaders(): readonly (string | Buffer)[] {
    return (this.#raw ??= flattenHeaders(this.#headers ?? EMPTY));
  }

  header(name: string): string | string[] | undefined {
    if (this.#headers !== undefined || this.#raw === undefined) return this.headers[name];
    return rawHeaderValue(this.#raw, name);
  }

  get body(): ResponseBody {
    if (this.#readable === undefined) {
      const readable = new ResponseBody(this);
      this.#readable = readable;
      this.sendBodyTo(readable);
    }
    return this.#readable;
  }

  // ---- the producer's side

  push(chunk: Buffer): boolean {
    if (this.#ended) return false;
    const sink = this.#sink;
    if (sink === undefined) {
      // No consumer yet (the head is still travelling up the stack): keep what comes, up to a
      // stream buffer's worth, so a small body is read in the same pass as its head.
      (this.#queue ??= []).push(chunk);
      this.#queuedBytes += chunk.length;
      return this.#queuedBytes < QUEUE_LIMIT_BYTES;
    }
    if (this.#paused || this.#queue !== undefined) {
      (this.#queue ??= []).push(chunk);
      return false;
    }
    if (sink.onData(chunk)) return true;
    this.#paused = true;
    return false;
  }

  end(trailers: HeaderRecord | null): void {
    if (this.#ended) return;
    if (trailers !== null) this.trailers = trailers;
    this.#ended = true;
    if (this.#sink !== undefined && this.#queue === undefined) this.#finish();
  }

  fail(error: Error): void {
    if (this.#settled || this.#error !== undefined) return;
    this.#ended = true;
    this.#error = error;
    this.#queue = undefined;
    if (this.#sink !== undefined) {
      this.#settled = true;
      this.#sink.onError(error);
    }
    this.#notify(error);
  }

  // ---- the consumer's side

  sendBodyTo(sink: ResponseBodySink): void {
    if (this.#sink !== undefined) throw new TypeError('the response body has already been consumed');
    this.#sink = sink;
    if (this.#error !== undefined) {
      this.#settled = true;
      sink.onError(this.#error);
    } else if (this.#queue !== undefined) this.#flush();
    else if (this.#ended) this.#finish();
    else this.#source.resume();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#queue !== undefined) this.#flush();
    else if (!this.#ended) this.#source.resume();
    else if (!this.#settled && this.#error === undefined) this.#finish();
  }

  discard(limitBytes = DISCARD_LIMIT_BYTES): void {
    if (this.#sink !== undefined) {
      // Already being read (a body stream someone dropped): stop it rather than read on for nobody.
      if (!this.#settled) this.abort(new Error('response discarded'));
      return;
    }
    let read = 0;
    this.sendBodyTo({
      onData: (chunk) => {
        read += chunk.length;
        if (read > limitBytes) this.abort(new Error('response discarded'));
        return true;
      },
      onEnd() {},
      onError() {},
    });
  }

  abort(reason: Error = new Error('response aborted')): void {
    if (this.#settled || this.#error !== undefined) return;
    if (!this.#ended) this.#source.abort(reason);
    this.fail(reason);
  }

  onSettled(listener: (error: Error | undefined) => void): void {
    if (this.#settled || this.#error !== undefined) listener(this.#error);
    else (this.#listeners ??= []).push(listener);
  }

  #flush(): void {
    const sink = this.#sink!;
    const queue = this.#queue!;
    while (queue.length > 0) {
      if (!sink.onData(queue.shift()!)) {
        this.#paused = true;
        if (queue.length === 0) this.#queue = undefined;
        return;
      }
      if (this.#error !== undefined) return;
    }
    this.#queue = undefined;
    if (this.#ended) this.#finish();
    else this.#source.resume();
  }

  #finish(): void {
    this.#settled = true;
    this.#sink!.onEnd(this.trailers);
    this.#notify(undefined);
  }

  #notify(error: Error | undefined): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    this.#listeners = undefined;
    for (const listener of listeners) listener(error);
  }
}

/** A complete response made inside the mesh (an injected fault, a refusal): no source to read. */
export function bufferedResponse(statusCode: number, statusText: string, headers: HeaderRecord, body: Buffer): StreamedResponse {
  const response = new StreamedResponse(statusCode, statusText, headers, undefined);
  if (body.length > 0) response.push(body);
  response.end(null);
  return response;
}

/** A header's value from the flat list, matching the lower-case `name` case-insensitively, with no copies. */
function rawHeaderValue(raw: readonly (string | Buffer)[], name: string): string | string[] | undefined {
  let found: string | string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (!sameName(raw[i]!, name)) continue;
    const value = raw[i + 1]!.toString('latin1' as never);
    found = found === undefined ? value : Array.isArray(found) ? [...found, value] : [found, value];
  }
  return found;
}

function sameName(candidate: string | Buffer, lower: string): boolean {
  if (candidate.length !== lower.length) return false;
  if (typeof candidate === 'string') return candidate.toLowerCase() === lower;
  for (let i = 0; i < lower.length; i++) {
    let byte = candidate[i]!;
    if (byte >= 0x41 && byte <= 0x5a) byte |= 0x20;
    if (byte !== lower.charCodeAt(i)) return false;
  }
  return true;
}

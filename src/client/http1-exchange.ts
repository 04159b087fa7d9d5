/**
 * One HTTP/1.1 request to an endpoint's undici Pool, as a dispatch handler: undici calls it back
 * with the response head, each chunk and the trailers, and it turns them into a StreamedResponse
 * with no stream in between. At the head it resolves the caller's promise; the parser reads on
 * into the response's read-ahead, and pauses once that is full until a consumer of the body is
 * there (see mesh-response.ts).
 *
 * undici 7's callback handler API (onConnect/onHeaders/onData/onComplete) is used because it hands
 * over the head as the raw [name, value, ...] list, which the sidecar relays without building an
 * object of it.
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CallContext } from '../core/service.js';
import { translateEndpointError } from './endpoint-errors.js';
import { parseRawHeaders, StreamedResponse, type BodySource } from '../http/mesh-response.js';

const NO_BYTES = Buffer.alloc(0);

export class Http1Exchange implements Dispatcher.DispatchHandler, BodySource {
  readonly #resolve: (response: StreamedResponse) => void;
  readonly #reject: (error: unknown) => void;
  readonly #ctx: CallContext;
  readonly #endpoint: string;
  #abortRequest: ((reason?: Error) => void) | undefined = undefined;
  #resumeParser: (() => void) | undefined = undefined;
  #response: StreamedResponse | undefined = undefined;
  #onAbort: (() => void) | undefined = undefined;

  constructor(resolve: (response: StreamedResponse) => void, reject: (error: unknown) => void, ctx: CallContext, endpoint: string) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#ctx = ctx;
    this.#endpoint = endpoint;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abortRequest = abort;
    const signal = this.#ctx.signal;
    if (signal === undefined) return;
    if (signal.aborted) return abort(signal.reason as Error);
    this.#onAbort = () => abort(signal.reason as Error);
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  onHeaders(statusCode: number, rawHeaders: (Buffer | string)[], resume: () => void, statusText: string): boolean {
    // 1xx interim answers (100 Continue) are undici's business; the final head is what callers see.
    if (statusCode < 200) return true;
    this.#resumeParser = resume;
    const response = new StreamedResponse(statusCode, statusText, undefined, rawHeaders, this);
    this.#response = response;
    this.#resolve(response);
    // The parser reads on: the body is kept by the response (up to its read-ahead limit) until
    // a consumer is there, so a small response is parsed in one pass.
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#response!.push(chunk);
  }

  onComplete(rawTrailers: (Buffer | string)[] | null): void {
    this.#forgetSignal();
    this.#response?.end(rawTrailers !== null && rawTrailers.length > 0 ? parseRawHeaders(rawTrailers) : null);
  }

  onError(error: Error): void {
    this.#forgetSignal();
    const translated = translateEndpointError(error, this.#endpoint, this.#ctx) as Error;
    if (this.#response !== undefined) this.#response.fail(translated);
    else this.#reject(translated);
  }

  /** A 101 answer to an upgrade request: the socket is the caller's from now on. */
  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#forgetSignal();
    const response = new StreamedResponse(statusCode, 'Switching Protocols', undefined, rawHeaders ?? [], this);
    response.upgrade = { socket, head: NO_BYTES };
    response.end(null);
    this.#resolve(response);
  }

  // ---- BodySource: what the response asks of the connection

  resume(): void {
    this.#resumeParser?.();
  }

  abort(reason: Error): void {
    this.#abortRequest?.(reason);
  }

  #forgetSignal(): void {
    if (this.#onAbort === undefined) return;
    this.#ctx.signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
  }
}

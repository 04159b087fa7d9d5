/**
 * An undici Dispatcher in front of the mesh. `fetch()` (and anything else built on undici) hands it
 * every request; it picks the meshClient named by the request's host and sends the request through
 * that client's stack, then hands the response's head and chunks to undici's handler as they come. Hosts the mesh does not know
 * go to the fallback dispatcher untouched, or are refused when the mesh is configured to be closed.
 *
 * That is what makes `setGlobalDispatcher(mesh.dispatcher)` mesh every `fetch()` in a process.
 */
import { STATUS_CODES } from 'node:http';
import { Dispatcher } from 'undici';
import { MeshError } from '../core/errors.js';
import { LightAbortSignal } from '../core/light-abort-signal.js';
import type { MeshRequest } from '../http/http-types.js';
import { flattenHeaders, type HeaderRecord, type MeshResponse, type ResponseBodySink } from '../http/mesh-response.js';

/** The part of a meshClient the dispatcher needs. */
export interface DispatchTarget {
  readonly name: string;
  request(req: MeshRequest): Promise<MeshResponse>;
}

/** Finds the client for a request's hostname (lower-case, no port); undefined when the mesh has none. */
export type DispatchRoute = (hostname: string) => DispatchTarget | undefined;

export interface MeshDispatcherOptions {
  /**
   * Where requests for unknown hosts go; without it (or when the function returns undefined) they
   * are refused with UNKNOWN_SERVICE. A function is asked per request, so the choice can change.
   */
  fallback?: Dispatcher | (() => Dispatcher | undefined);
  /**
   * The egress policy, asked before the fallback for a host that names no service: a target (an
   * allowed external host's client), a dispatcher to hand the request to as it is, the refusal, or
   * undefined when there is no policy.
   */
  egress?: (origin: URL) => DispatchTarget | Dispatcher | MeshError | undefined;
}

/** undici's legacy handler callbacks (what `fetch` uses) and the newer controller-style ones. */
type AnyHandler = Dispatcher.DispatchHandler & {
  onConnect?(abort: (err?: Error) => void, context?: object): void;
  onHeaders?(statusCode: number, headers: (Buffer | string)[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: (Buffer | string)[] | null): void;
  onError?(err: Error): void;
};

export class MeshDispatcher extends Dispatcher {
  readonly #route: DispatchRoute;
  readonly #fallback: () => Dispatcher | undefined;
  readonly #egress: MeshDispatcherOptions['egress'];
  readonly #origins = new Map<string, ParsedOrigin>();
  #closed = false;

  constructor(route: DispatchRoute | (() => DispatchTarget), options: MeshDispatcherOptions = {}) {
    super();
    this.#route = route as DispatchRoute;
    const fallback = options.fallback;
    this.#fallback = typeof fallback === 'function' ? fallback : () => fallback;
    this.#egress = options.egress;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = this.#originOf(options.origin);
    const hostname = origin?.hostname ?? '';
    let target = this.#closed ? undefined : this.#route(hostname);
    if (target === undefined && !this.#closed && this.#egress !== undefined && origin !== undefined) {
      const decision = this.#egress(origin.url);
      if (decision instanceof MeshError) {
        queueMicrotask(() => failHandler(handler as AnyHandler, decision));
        return true;
      }
      if (decision instanceof Dispatcher) return decision.dispatch(options, handler);
      target = decision;
    }
    if (target === undefined) {
      const fallback = this.#closed ? undefined : this.#fallback();
      if (fallback) return fallback.dispatch(options, handler);
      const reason = this.#closed
        ? new MeshError('CLIENT_CLOSED', 'the mesh dispatcher is closed')
        : new MeshError('UNKNOWN_SERVICE', `no mesh service is named "${hostname}"; add it to the mesh or allow unknown hosts to pass through`, { service: hostname });
      queueMicrotask(() => failHandler(handler as AnyHandler, reason));
      return true;
    }
    if (options.upgrade) {
      queueMicrotask(() =>
        failHandler(handler as AnyHandler, new MeshError('INVALID_OPTIONS', `service "${target.name}": protocol upgrades (${String(options.upgrade)}) are not supported through a meshClient`, { service: target.name })),
      );
      return true;
    }
    forward(target, options, handler as AnyHandler);
    return true;
  }

  override async close(): Promise<void> {
    this.#closed = true;
  }

  override async destroy(): Promise<void> {
    this.#closed = true;
  }

  /** The origin parsed once per distinct origin string: most calls name the same few. */
  #originOf(origin: Dispatcher.DispatchOptions['origin']): ParsedOrigin | undefined {
    if (origin === undefined) return undefined;
    const key = String(origin);
    let parsed = this.#origins.get(key);
    if (parsed === undefined) {
      const url = new URL(key);
      parsed = { url, hostname: url.hostname.toLowerCase() };
      if (this.#origins.size > 1024) this.#origins.clear();
      this.#origins.set(key, parsed);
    }
    return parsed;
  }
}

interface ParsedOrigin {
  url: URL;
  hostname: string;
}

function forward(target: DispatchTarget, options: Dispatcher.DispatchOptions, handler: AnyHandler): void {
  const exchange = new DispatchExchange(handler);
  if (handler.onRequestStart) handler.onRequestStart(exchange as never, {});
  else handler.onConnect?.(exchange.abort);
  if (exchange.signal.aborted) return;
  const request: MeshRequest = {
    method: options.method,
    path: options.path,
    headers: options.headers,
    body: options.body as MeshRequest['body'],
    signal: exchange.signal.asAbortSignal(),
  };
  target.request(request).then(exchange.onResponse, exchange.onFailure);
}

/**
 * One request handed to the dispatcher: the controller undici's newer handlers get, the abort
 * function its older ones get, and the sink the response's body is handed over through. One
 * object, its methods on the prototype: the object literal of methods it replaces made seven
 * function objects per request.
 */
class DispatchExchange implements ResponseBodySink {
  readonly signal = new LightAbortSignal();
  readonly #handler: AnyHandler;
  readonly #modern: boolean;
  #response: MeshResponse | undefined = undefined;
  #attached = false;
  #aborted = false;
  #paused = false;
  #reason: Error | null = null;

  constructor(handler: AnyHandler) {
    this.#handler = handler;
    this.#modern = handler.onResponseStart !== undefined;
  }

  // ---- the controller (undici's handler API)

  readonly abort = (reason?: Error): void => {
    this.#aborted = true;
    this.#reason = reason ?? null;
    const error = reason ?? new MeshError('REQUEST_ABORTED', 'request aborted by the caller');
    this.signal.abort(error);
    this.#response?.abort(error);
  };

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#response?.resume();
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  // ---- the stack's answer

  readonly onResponse = (res: MeshResponse): void => {
    this.#response = res;
    const handler = this.#handler;
    const statusText = res.statusText || (STATUS_CODES[res.statusCode] ?? '');
    if (this.#modern) {
      handler.onResponseStart!(this as never, res.statusCode, res.headers, statusText);
      if (!this.#aborted) this.#attach();
      return;
    }
    // A legacy handler that answers false to the head wants the body only once it calls resume.
    const proceed = handler.onHeaders?.(res.statusCode, res.rawHeaders as string[], this.#legacyResume, statusText);
    if (this.#aborted || this.#attached) return;
    if (proceed !== false) this.#attach();
  };

  readonly onFailure = (err: Error): void => {
    failHandler(this.#handler, err, this);
  };

  readonly #legacyResume = (): void => {
    if (this.#attached) this.#response!.resume();
    else this.#attach();
  };

  #attach(): void {
    this.#attached = true;
    this.#response!.sendBodyTo(this);
  }

  // ---- the body, as a sink

  onData(chunk: Buffer): boolean {
    if (this.#modern) {
      this.#handler.onResponseData!(this as never, chunk);
      return !this.#paused;
    }
    return this.#handler.onData?.(chunk) !== false;
  }

  onEnd(trailers: HeaderRecord): void {
    if (this.#modern) this.#handler.onResponseEnd!(this as never, trailers);
    else this.#handler.onComplete?.(flattenHeaders(trailers));
  }

  onError(err: Error): void {
    failHandler(this.#handler, err, this);
  }
}

function failHandler(handler: AnyHandler, err: Error, controller?: DispatchExchange): void {
  if (handler.onResponseError) handler.onResponseError(controller as never, err);
  else handler.onError?.(err);
}

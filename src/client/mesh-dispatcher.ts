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
import type { MeshRequest } from './http-types.js';
import { flattenHeaders, type MeshResponse, type ResponseBodySink } from './mesh-response.js';

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
  readonly #hostnames = new Map<string, string>();
  #closed = false;

  constructor(route: DispatchRoute | (() => DispatchTarget), options: MeshDispatcherOptions = {}) {
    super();
    this.#route = route as DispatchRoute;
    const fallback = options.fallback;
    this.#fallback = typeof fallback === 'function' ? fallback : () => fallback;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const hostname = this.#hostnameOf(options.origin);
    const target = this.#closed ? undefined : this.#route(hostname);
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

  #hostnameOf(origin: Dispatcher.DispatchOptions['origin']): string {
    if (origin === undefined) return '';
    const key = String(origin);
    let hostname = this.#hostnames.get(key);
    if (hostname === undefined) {
      hostname = (origin instanceof URL ? origin : new URL(key)).hostname.toLowerCase();
      if (this.#hostnames.size > 1024) this.#hostnames.clear();
      this.#hostnames.set(key, hostname);
    }
    return hostname;
  }
}

function forward(target: DispatchTarget, options: Dispatcher.DispatchOptions, handler: AnyHandler): void {
  const signal = new LightAbortSignal();
  const abort = (err?: Error) => signal.abort(err ?? new MeshError('REQUEST_ABORTED', 'request aborted by the caller'));
  const controller = newController(abort);
  if (handler.onRequestStart) handler.onRequestStart(controller, {});
  else handler.onConnect?.(abort);
  if (signal.aborted) return;

  const request: MeshRequest = {
    method: options.method,
    path: options.path,
    headers: options.headers,
    body: options.body as MeshRequest['body'],
    signal: signal.asAbortSignal(),
  };
  target.request(request).then(
    (res) => replay(res, handler, controller),
    (err: Error) => failHandler(handler, err, controller),
  );
}

interface ReplayController {
  abort(reason?: Error): void;
  pause(): void;
  resume(): void;
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  response?: MeshResponse;
}

function newController(abort: (err?: Error) => void): ReplayController {
  const state = { aborted: false, paused: false, reason: null as Error | null };
  const controller: ReplayController = {
    abort(reason) {
      state.aborted = true;
      state.reason = reason ?? null;
      abort(reason);
      controller.response?.abort(reason);
    },
    pause() {
      state.paused = true;
    },
    resume() {
      state.paused = false;
      controller.response?.resume();
    },
    get aborted() {
      return state.aborted;
    },
    get paused() {
      return state.paused;
    },
    get reason() {
      return state.reason;
    },
  };
  return controller;
}

/** Hands the response to undici's handler: the head, then each chunk as the source delivers it. */
function replay(res: MeshResponse, handler: AnyHandler, controller: ReplayController): void {
  controller.response = res;
  const statusText = res.statusText || (STATUS_CODES[res.statusCode] ?? '');
  const modern = handler.onResponseStart !== undefined;
  let attached = false;
  const sink: ResponseBodySink = modern
    ? {
        onData(chunk) {
          handler.onResponseData!(controller as never, chunk);
          return !controller.paused;
        },
        onEnd: (trailers) => handler.onResponseEnd!(controller as never, trailers),
        onError: (err) => failHandler(handler, err, controller),
      }
    : {
        onData: (chunk) => handler.onData?.(chunk) !== false,
        onEnd: (trailers) => handler.onComplete?.(flattenHeaders(trailers)),
        onError: (err) => failHandler(handler, err, controller),
      };
  const attach = () => {
    attached = true;
    res.sendBodyTo(sink);
  };
  if (modern) {
    handler.onResponseStart!(controller as never, res.statusCode, res.headers, statusText);
    if (controller.aborted) return;
    attach();
    return;
  }
  // A legacy handler that answers false to the head wants the body only once it calls resume.
  const proceed = handler.onHeaders?.(res.statusCode, res.rawHeaders as string[], () => (attached ? res.resume() : attach()), statusText);
  if (controller.aborted || attached) return;
  if (proceed !== false) attach();
}

function failHandler(handler: AnyHandler, err: Error, controller?: ReplayController): void {
  if (handler.onResponseError) handler.onResponseError(controller as never, err);
  else handler.onError?.(err);
}

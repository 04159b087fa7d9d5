/**
 * undici (7.x) drops HTTP/2 response trailers on the way to `request()`: the HTTP/2 client hands
 * them on as an object, and the request handler only reads the flat [name, value, ...] list the
 * HTTP/1.1 parser produces. gRPC puts its status in those trailers, so this interceptor flattens
 * them before they reach the handler.
 */
import type { Dispatcher } from 'undici';

type LegacyHandler = Record<string, ((...args: unknown[]) => unknown) | undefined>;

const CALLBACKS = ['onConnect', 'onHeaders', 'onData', 'onError', 'onUpgrade', 'onBodySent', 'onRequestSent', 'onResponseStarted'];

export const keepH2Trailers: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
  const inner = handler as unknown as LegacyHandler;
  if (typeof inner.onComplete !== 'function') return dispatch(options, handler);
  const wrapper: LegacyHandler = {
    onComplete: (trailers: unknown) => inner.onComplete!(flattenHeaders(trailers)),
  };
  for (const name of CALLBACKS) {
    const callback = inner[name];
    if (typeof callback === 'function') wrapper[name] = (...args: unknown[]) => callback.apply(inner, args);
  }
  return dispatch(options, wrapper as unknown as Dispatcher.DispatchHandler);
};

function flattenHeaders(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) return headers;
  const flat: string[] = [];
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) flat.push(name, String(item));
    else flat.push(name, String(value));
  }
  return flat;
}

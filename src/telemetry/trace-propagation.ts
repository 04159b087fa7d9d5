/**
 * Carrying a trace across a hop: W3C `traceparent`/`tracestate` and Zipkin B3 (the multi-header
 * X-B3-* form, and the single `b3` header on the way in), so a trace started by an app using either
 * convention continues through the mesh. If the application registered its own global propagator
 * (an OpenTelemetry SDK does), that one is used instead: the app decides its wire format.
 */
import { type Context, propagation, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import type { HttpHeaders } from '../http/http-types.js';
import { headerRecord } from '../http/header-shapes.js';

// Extraction runs in order and the last propagator that finds a parent wins: W3C over B3.
const meshDefault: TextMapPropagator = new CompositePropagator({
  propagators: [new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }), new W3CTraceContextPropagator()],
});

function activePropagator(): TextMapPropagator {
  return propagation.fields().length > 0 ? propagation : meshDefault;
}

export type HeaderRecord = Record<string, string | string[] | undefined>;

const getter: TextMapGetter<HeaderRecord> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key] ?? carrier[key.toLowerCase()],
};

const setter: TextMapSetter<HeaderRecord> = {
  set: (carrier, key, value) => {
    carrier[key.toLowerCase()] = value;
  },
};

const TRACE_HEADERS = ['traceparent', 'b3', 'x-b3-traceid'];

/**
 * Whether the headers carry a trace context at all, cheaply: the common request has none, and
 * must not pay for a propagator's parse. With a custom global propagator, its own fields count.
 */
export function carriesTraceContext(headers: HttpHeaders): boolean {
  if (headers === undefined || headers === null) return false;
  const custom = propagation.fields();
  const names = custom.length > 0 ? custom : TRACE_HEADERS;
  // The length test skips the lower-casing for almost every header.
  const matches = (name: string) => names.includes(name) || (names.some((n) => n.length === name.length) && names.includes(name.toLowerCase()));
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (matches(String(headers[i]))) return true;
    return false;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name] of headers as Iterable<[string, unknown]>) if (matches(name)) return true;
    return false;
  }
  // Header names are case-insensitive (code may write Traceparent); the length test skips the
  // lower-casing for almost every other header.
  for (const name in headers as Record<string, unknown>) {
    const length = name.length;
    if ((length === 2 || length === 11 || length === 12 || custom.length > 0) && matches(name)) return true;
  }
  return false;
}

/** The trace context the headers carry, on top of `base`. */
export function extractTraceContext(base: Context, headers: HttpHeaders): Context {
  const record = headerRecord(headers);
  return record ? activePropagator().extract(base, record, getter) : base;
}

/** A copy of `headers` with the trace context of `ctx` written in (an old trace header is replaced). */
export function injectTraceContext(ctx: Context, headers: HttpHeaders): HeaderRecord {
  const out: HeaderRecord = { ...headerRecord(headers) };
  activePropagator().inject(ctx, out, setter);
  return out;
}

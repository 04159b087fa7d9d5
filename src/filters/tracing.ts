/**
 * OpenTelemetry spans through @opentelemetry/api only: meshwork never installs an SDK in a user's
 * process. With none registered, the API's no-op tracer makes this nearly free, and an incoming
 * trace context still flows on unchanged; with one (the app's, or the sidecar's), every request
 * gets a span, and each attempt under it (retries show as siblings) a child span whose context is
 * written into the outgoing headers (W3C traceparent and B3), so the next hop continues the trace.
 *
 * The parent is the app's active span when there is one, else whatever trace the request's own
 * headers carry — which is how a trace crosses the sidecar. With neither, no span is made.
 */
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import { isMeshError } from '../core/errors.js';
import { Param, type Params } from '../core/params.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule } from '../http/http-stack.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { carriesTraceContext, extractTraceContext, injectTraceContext } from '../telemetry/trace-propagation.js';
import { DirectionParam } from '../core/core-params.js';
import { isFailureResponse } from '../policy/response-classifier.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** The provider spans come from: a mesh's own (spec.tracing), else whatever the process registered globally. */
export const TracerProviderParam = new Param<TracerProvider | undefined>('tracerProvider', undefined);

function tracerOf(params: Params): () => Tracer {
  const provider = params.get(TracerProviderParam);
  if (provider === undefined) return () => trace.getTracer('meshwork', VERSION);
  const tracer = provider.getTracer('meshwork', VERSION);
  return () => tracer;
}

export const requestSpanModule: HttpModule = {
  role: 'trace',
  description: 'an OpenTelemetry span per request, continuing the caller\'s trace (active span, traceparent or B3)',
  params: [TracerProviderParam, DirectionParam],
  make(params, next) {
    const kind = params.get(DirectionParam) === 'inbound' ? SpanKind.SERVER : SpanKind.CLIENT;
    const tracer = tracerOf(params);
    return {
      call(req, ctx) {
        const active = context.active();
        const hasActiveSpan = trace.getSpan(active) !== undefined;
        // The mesh continues traces and never starts one: with no active span and no trace in the
        // headers there is nothing to continue, and the request costs no span at all (this was 5%
        // of a sidecar's CPU when every request got an unsampled span and injected headers).
        if (!hasActiveSpan && !carriesTraceContext(req.headers)) return next.call(req, ctx);
        const parent = hasActiveSpan ? active : extractTraceContext(active, req.headers);
        const span = tracer().startSpan(`${req.method} ${ctx.service}`, { kind, attributes: { 'http.request.method': req.method, 'url.path': req.path, 'meshwork.service': ctx.service } }, parent);
        ctx.trace = trace.setSpan(parent, span);
        return next.call(req, ctx).then(
          (res) => {
            if (ctx.route !== undefined) span.setAttribute('http.route', ctx.route);
            endWithResponse(span, res, ctx);
            return res;
          },
          (err: unknown) => {
            endWithError(span, err);
            throw err;
          },
        );
      },
      close: () => next.close(),
    };
  },
};

export const attemptSpanModule: HttpModule = {
  role: 'attempt-trace',
  description: 'a child span per attempt, whose context goes downstream in traceparent and B3 headers',
  params: [TracerProviderParam],
  make(params, next) {
    const tracer = tracerOf(params);
    return {
      call(req, ctx) {
        const parent = ctx.trace ?? context.active();
        if (ctx.trace === undefined && trace.getSpan(parent) === undefined) return next.call(req, ctx);
        const span = tracer().startSpan(`attempt ${ctx.attempt}`, { kind: SpanKind.CLIENT, attributes: { 'meshwork.attempt': ctx.attempt } }, parent);
        if (!span.isRecording() && !isSpanContextValid(span.spanContext())) {
          // No trace to continue and none being recorded: the request goes on untouched.
          span.end();
          return next.call(req, ctx);
        }
        const attemptReq: MeshRequest = { ...req, headers: injectTraceContext(trace.setSpan(parent, span), req.headers) };
        return next.call(attemptReq, ctx).then(
          (res) => {
            if (ctx.endpoint !== undefined) span.setAttribute('server.address', ctx.endpoint);
            endWithResponse(span, res, ctx);
            return res;
          },
          (err: unknown) => {
            if (ctx.endpoint !== undefined) span.setAttribute('server.address', ctx.endpoint);
            endWithError(span, err);
            throw err;
          },
        );
      },
      close: () => next.close(),
    };
  },
};

function endWithResponse(span: Span, res: MeshResponse, ctx: CallContext): void {
  span.setAttribute('http.response.status_code', res.statusCode);
  if (isFailureResponse(res.statusCode, ctx.routePolicy)) span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${res.statusCode}` });
  span.end();
}

function endWithError(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: isMeshError(err) ? err.code : (err as Error)?.message });
  if (err instanceof Error) span.recordException(err);
  span.end();
}

/**
 * Two things every gRPC call through the mesh gets before it leaves: a deadline (the service's total
 * `timeout`, when the caller set none; an earlier deadline of the caller's always wins, and grpc-js
 * sends it on as `grpc-timeout`, so it propagates), and, when there is a trace to continue (an
 * active span), an OpenTelemetry span for the call whose context goes out in the metadata
 * (`traceparent` and B3), like the HTTP stack's spans.
 */
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InterceptingCall, type Interceptor, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { injectTraceContext } from '../telemetry/trace-propagation.js';

export function grpcDeadlineInterceptor(totalTimeoutMs: number | undefined): Interceptor {
  return (options, nextCall) => {
    if (totalTimeoutMs !== undefined && options.deadline === undefined) {
      // A gRPC deadline is a wall-clock instant (it travels as grpc-timeout), not the mesh clock's.
      options = { ...options, deadline: new Date(Date.now() + totalTimeoutMs) };
    }
    return new InterceptingCall(nextCall(options));
  };
}

export function grpcTracingInterceptor(service: string): Interceptor {
  return (options, nextCall) => {
    const active = context.active();
    if (trace.getSpan(active) === undefined) return new InterceptingCall(nextCall(options));
    const method = options.method_definition.path;
    const span = trace.getTracer('meshwork').startSpan(`grpc ${method}`, { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc', 'rpc.method': method, 'meshwork.service': service } }, active);
    return new InterceptingCall(nextCall(options), {
      start(metadata: Metadata, _listener, next) {
        if (isSpanContextValid(span.spanContext())) {
          const headers = injectTraceContext(trace.setSpan(active, span), {});
          for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') metadata.set(name, value);
        }
        next(metadata, {
          onReceiveStatus: (status: StatusObject, nextStatus: (s: StatusObject) => void) => {
            span.setAttribute('rpc.grpc.status_code', status.code);
            if (status.code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
            span.end();
            nextStatus(status);
          },
        });
      },
    });
  };
}

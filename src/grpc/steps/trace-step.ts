/**
 * A span per gRPC call, when there is a trace to continue (an active span): child of the caller's
 * span, around everything the policy does to the call (faults, retries), with its context sent in
 * the metadata (`traceparent` and B3) so the server continues the trace, as the HTTP stack's spans
 * do. With no active span, which is every call in a process without an OpenTelemetry SDK, the step
 * costs one context lookup and makes nothing.
 */
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { StatusObject } from '@grpc/grpc-js';
import { injectTraceContext } from '../../telemetry/trace-propagation.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export function traceStep(service: string): GrpcCallStep {
  return {
    role: 'trace',
    started(call: GrpcCall): boolean {
      const active = context.active();
      if (trace.getSpan(active) === undefined) return true;
      const span = trace.getTracer('meshwork').startSpan(`grpc ${call.method}`, { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc', 'rpc.method': call.method, 'meshwork.service': service } }, active);
      call.span = span;
      if (isSpanContextValid(span.spanContext())) {
        // A copy: the caller may reuse its Metadata object for calls in other traces.
        const metadata = call.metadata.clone();
        const headers = injectTraceContext(trace.setSpan(active, span), {});
        for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') metadata.set(name, value);
        call.metadata = metadata;
      }
      return true;
    },
    ended(call: GrpcCall, status: StatusObject): void {
      const span = call.span;
      if (span === undefined) return;
      span.setAttribute('rpc.grpc.status_code', status.code);
      if (status.code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
      span.end();
    },
  };
}

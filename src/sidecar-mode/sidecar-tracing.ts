/**
 * The sidecar is a process of its own, so unlike the library it installs an OpenTelemetry tracer:
 * the stack's spans then get ids of their own and the next hop sees the sidecar's attempt as its
 * parent. It follows the caller's sampling decision (parent-based) and starts no trace of its own.
 * Finished spans go to the log at debug level; an exporter (OTLP, Zipkin) is the platform's choice
 * and plugs in here.
 */
import { trace } from '@opentelemetry/api';
import { AlwaysOffSampler, BasicTracerProvider, ParentBasedSampler, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../core/logger.js';

export function installSidecarTracing(logger: Logger): () => Promise<void> {
  const logSpans: SpanProcessor = {
    onStart: () => {},
    onEnd: (span: ReadableSpan) => {
      const context = span.spanContext();
      const [seconds, nanos] = span.duration;
      logger.debug('span', {
        traceId: context.traceId,
        spanId: context.spanId,
        parentSpanId: span.parentSpanContext?.spanId,
        name: span.name,
        durationMs: seconds * 1000 + nanos / 1e6,
        status: span.status.code,
        attributes: span.attributes,
      });
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), spanProcessors: [logSpans] });
  trace.setGlobalTracerProvider(provider);
  return () => provider.shutdown();
}

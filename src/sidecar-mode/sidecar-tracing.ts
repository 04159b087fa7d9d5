/**
 * The sidecar is a process of its own, so unlike the library it installs an OpenTelemetry tracer:
 * the stack's spans then get ids of their own and the next hop sees the sidecar's attempt as its
 * parent. It follows the caller's sampling decision (parent-based) and starts no trace of its own.
 * Finished spans go to the log at debug level and, with `spec.tracing`, to an OTLP collector
 * (telemetry/mesh-tracer-provider.ts).
 */
import { trace } from '@opentelemetry/api';
import type { BasicTracerProvider, ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Registry } from 'prom-client';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TracingSection } from '../config/tracing-schema.js';
import { meshTracerProvider } from '../client/mesh-tracer-provider.js';

export function installSidecarTracing(logger: Logger, tracing: TracingSection | undefined, registry: Registry): BasicTracerProvider {
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
  const provider = meshTracerProvider(tracing, { clock: systemClock, logger, registry, serviceName: 'mesh-sidecar', spanProcessors: [logSpans] });
  trace.setGlobalTracerProvider(provider);
  return provider;
}

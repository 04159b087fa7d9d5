/**
 * The tracer provider of a mesh whose config has `spec.tracing`: spans continue the callers' traces
 * (parent-based sampling; the mesh starts no trace of its own) and leave over OTLP/HTTP through a
 * bounded, dropping export (otlp-span-export.ts), under the resource `service.name` given.
 */
import { AlwaysOffSampler, BasicTracerProvider, ParentBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TracingSection } from '../config/tracing-schema.js';
import { BoundedSpanExport, SPAN_EXPORT_DEFAULTS } from '../telemetry/otlp-span-export.js';

export interface MeshTracerDeps {
  clock: Clock;
  logger: Logger;
  registry?: Registry;
  /** `service.name` when the section names none. */
  serviceName: string;
  /** Processors of the embedder's own (the sidecar logs spans at debug level). */
  spanProcessors?: SpanProcessor[];
}

export function meshTracerProvider(tracing: TracingSection | undefined, deps: MeshTracerDeps): BasicTracerProvider {
  const processors = [...(deps.spanProcessors ?? [])];
  if (tracing) {
    const timeoutMs = tracing.otlp.timeout ?? SPAN_EXPORT_DEFAULTS.timeoutMs;
    // One request at a time: the processor sends one batch at a time anyway, and a collector that
    // is slow gets no more connections from us.
    const exporter = new OTLPTraceExporter({ url: tracing.otlp.endpoint, headers: tracing.otlp.headers ?? {}, timeoutMillis: timeoutMs, concurrencyLimit: 1 });
    processors.push(
      new BoundedSpanExport(exporter, {
        clock: deps.clock,
        logger: deps.logger,
        ...(deps.registry ? { registry: deps.registry } : {}),
        ...(tracing.batch?.maxQueueSize ? { maxQueueSize: tracing.batch.maxQueueSize } : {}),
        ...(tracing.batch?.maxSize ? { maxBatchSize: tracing.batch.maxSize } : {}),
        ...(tracing.batch?.delay ? { delayMs: tracing.batch.delay } : {}),
        // A little longer than the exporter's own timeout, which answers first when it can.
        timeoutMs: timeoutMs + 1_000,
      }),
    );
  }
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': tracing?.serviceName ?? deps.serviceName }),
    sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    spanProcessors: processors,
  });
}

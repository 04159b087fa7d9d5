/**
 * The `spec.tracing` section: where this process's spans go. With it, mesh-sidecar (and a library
 * mesh created from the file) exports spans over OTLP/HTTP to a collector (an OpenTelemetry
 * Collector, Jaeger, Tempo), in batches from a bounded queue; see telemetry/otlp-span-export.ts.
 */
import { z } from 'zod';
import { durationSchema } from './service-schema.js';

const count = (min: number, max: number) => z.number().int('expected a whole number').min(min, `expected at least ${min}`).max(max, `expected at most ${max}`);

export const tracingSchema = z
  .object({
    otlp: z
      .object({
        /** The collector's OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces. */
        endpoint: z.string().refine((url) => /^https?:\/\/[^/\s]+/i.test(url), 'expected an http:// or https:// URL such as http://otel-collector:4318/v1/traces'),
        /** Sent with every export (an API key for a hosted backend, say); /config redacts credentials. */
        headers: z.record(z.string()).optional(),
        /** How long one export may take before it is given up (and its spans counted as dropped). */
        timeout: durationSchema.optional(),
      })
      .strict(),
    /** The `service.name` of the spans' resource. Default: mesh-sidecar, or meshwork for a library mesh. */
    serviceName: z.string().min(1).optional(),
    batch: z
      .object({
        /** Finished spans held at most; beyond this they are dropped and counted. */
        maxQueueSize: count(1, 1_000_000).optional(),
        /** Spans sent in one export at most. */
        maxSize: count(1, 100_000).optional(),
        /** How long a span may wait for its batch to fill. */
        delay: durationSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type TracingSection = z.output<typeof tracingSchema>;

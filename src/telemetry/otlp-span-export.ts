/**
 * Spans leave the process over OTLP/HTTP (@opentelemetry/exporter-trace-otlp-http, JSON) to a
 * collector: an OpenTelemetry Collector, Jaeger or Tempo. Tracing must never slow the traffic it
 * describes, so this processor never waits for the collector:
 * - a finished span is queued at once, up to `maxQueueSize`; beyond that it is dropped and counted;
 * - batches of up to `maxBatchSize` go out when full or after `delayMs`, one export at a time, so a
 *   slow collector holds at most one batch in flight plus the bounded queue;
 * - an export that fails or takes longer than `timeoutMs` loses its batch, counted as dropped.
 * The OpenTelemetry SDK's own BatchSpanProcessor drops too, but counts only in a debug log and runs
 * on its own timers; this one counts in the mesh's registry and runs on the injected clock.
 *
 * `meshwork_trace_spans_exported_total`, `meshwork_trace_spans_dropped_total{reason}` (queue_full,
 * export_failed) and `meshwork_trace_export_queue_spans` tell how export is going.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { TraceFlags } from '@opentelemetry/api';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

export interface SpanExportOptions {
  clock: Clock;
  logger: Logger;
  /** Where the export counters go (the mesh's registry). */
  registry?: Registry;
  maxQueueSize?: number;
  maxBatchSize?: number;
  /** How long a span may wait for its batch to fill, ms. */
  delayMs?: number;
  /** How long one export may take before its batch is given up, ms. */
  timeoutMs?: number;
}

export const SPAN_EXPORT_DEFAULTS = { maxQueueSize: 2048, maxBatchSize: 512, delayMs: 5_000, timeoutMs: 10_000 };

export class BoundedSpanExport implements SpanProcessor {
  readonly #exporter: SpanExporter;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxQueueSize: number;
  readonly #maxBatchSize: number;
  readonly #delayMs: number;
  readonly #timeoutMs: number;
  readonly #exported: Counter | undefined;
  readonly #dropped: Counter<'reason'> | undefined;
  #queue: ReadableSpan[] = [];
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  #failing = false;
  #shutDown = false;

  constructor(exporter: SpanExporter, options: SpanExportOptions) {
    this.#exporter = exporter;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#maxQueueSize = options.maxQueueSize ?? SPAN_EXPORT_DEFAULTS.maxQueueSize;
    this.#maxBatchSize = Math.min(options.maxBatchSize ?? SPAN_EXPORT_DEFAULTS.maxBatchSize, this.#maxQueueSize);
    this.#delayMs = options.delayMs ?? SPAN_EXPORT_DEFAULTS.delayMs;
    this.#timeoutMs = options.timeoutMs ?? SPAN_EXPORT_DEFAULTS.timeoutMs;
    if (options.registry) {
      const registers = [options.registry];
      this.#exported = new Counter({ name: 'meshwork_trace_spans_exported_total', help: 'Spans the OTLP collector accepted.', registers });
      this.#dropped = new Counter({ name: 'meshwork_trace_spans_dropped_total', help: 'Spans not exported: the queue was full (queue_full) or their export failed or timed out (export_failed).', labelNames: ['reason'], registers });
      for (const reason of ['queue_full', 'export_failed']) this.#dropped.inc({ reason }, 0);
      const queue = () => this.#queue.length;
      new Gauge({ name: 'meshwork_trace_export_queue_spans', help: 'Finished spans waiting to be exported.', registers, collect() { this.set(queue()); } });
    }
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.#shutDown || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.#queue.length >= this.#maxQueueSize) {
      this.#dropped?.inc({ reason: 'queue_full' });
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#maxBatchSize) this.#exportNext();
    else this.#timer ??= this.#clock.setTimer(() => this.#exportNext(), this.#delayMs);
  }

  /** Exports everything queued, batch after batch. */
  async forceFlush(): Promise<void> {
    while (this.#inFlight !== undefined || this.#queue.length > 0) {
      if (this.#inFlight === undefined) this.#exportNext();
      await this.#inFlight;
    }
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    this.#shutDown = true;
    this.#timer?.cancel();
    await this.#exporter.shutdown();
  }

  /** Sends one batch unless one is in flight; when it settles, the next goes if the queue calls for it. */
  #exportNext(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#inFlight !== undefined || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#maxBatchSize);
    this.#inFlight = this.#export(batch).then(() => {
      this.#inFlight = undefined;
      if (this.#queue.length >= this.#maxBatchSize) this.#exportNext();
      else if (this.#queue.length > 0) this.#timer ??= this.#clock.setTimer(() => this.#exportNext(), this.#delayMs);
    });
  }

  #export(batch: ReadableSpan[]): Promise<void> {
    return new Promise<void>((done) => {
      let settled = false;
      const settle = (result: ExportResult) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (result.code === ExportResultCode.SUCCESS) {
          this.#exported?.inc(batch.length);
          if (this.#failing) this.#logger.info('span export works again');
          this.#failing = false;
        } else {
          this.#dropped?.inc({ reason: 'export_failed' }, batch.length);
          // Once per failure streak: a collector that is down would otherwise log every few seconds.
          if (!this.#failing) this.#logger.warn('span export failed; spans are dropped until the collector answers', { spans: batch.length, error: result.error?.message ?? 'export failed' });
          this.#failing = true;
        }
        done();
      };
      const timer = this.#clock.setTimer(() => settle({ code: ExportResultCode.FAILED, error: new Error(`no answer within ${this.#timeoutMs} ms`) }), this.#timeoutMs);
      try {
        this.#exporter.export(batch, settle);
      } catch (err) {
        settle({ code: ExportResultCode.FAILED, error: err as Error });
      }
    });
  }
}

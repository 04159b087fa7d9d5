/**
 * Spans leaving over OTLP/HTTP: the bounded export on a ManualClock (batches by size and by delay,
 * one export at a time, a full queue dropping and counting, failures and time-outs counted), then
 * end to end against an OTLP receiver on loopback that decodes what it gets — from mesh-sidecar with
 * spec.tracing, from a library mesh with the same section, and with the collector down or too slow,
 * when the traffic must go on unslowed while the spans are dropped and counted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AlwaysOnSampler, BasicTracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { createMesh, ManualClock } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { BoundedSpanExport } from '../../src/telemetry/otlp-span-export.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { metricValue, startSidecarProcess } from '../helpers/sidecar-process.js';

/** An exporter in the test's hands: it records each batch and answers when told to. */
class HeldExporter implements SpanExporter {
  readonly batches: { names: string[]; answer: (result: ExportResult) => void }[] = [];
  export(spans: ReadableSpan[], answer: (result: ExportResult) => void): void {
    this.batches.push({ names: spans.map((s) => s.name), answer });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function setUp(options: { maxQueueSize: number; maxBatchSize: number; delayMs: number; timeoutMs: number }) {
  const clock = new ManualClock(0);
  const exporter = new HeldExporter();
  const registry = new Registry();
  const processor = new BoundedSpanExport(exporter, { clock, logger: silentLogger, registry, ...options });
  const tracer = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [processor] }).getTracer('test');
  const end = (...names: string[]) => names.forEach((name) => tracer.startSpan(name).end());
  const count = async (reason?: string) => {
    const text = await registry.metrics();
    return reason ? metricValue(text, 'meshwork_trace_spans_dropped_total', { reason }) : metricValue(text, 'meshwork_trace_spans_exported_total');
  };
  const ok = { code: ExportResultCode.SUCCESS };
  return { clock, exporter, processor, end, count, ok };
}

test('batches go out when full or after the delay, one export at a time; a full queue drops and counts instead of waiting', async () => {
  const { clock, exporter, end, count, ok } = setUp({ maxQueueSize: 4, maxBatchSize: 2, delayMs: 1_000, timeoutMs: 5_000 });
  end('a');
  assert.equal(exporter.batches.length, 0, 'a lone span waits for its batch to fill');
  clock.advance(1_000);
  assert.deepEqual(exporter.batches.map((b) => b.names), [['a']], 'or for the delay');
  end('b', 'c', 'd', 'e', 'f', 'g');
  assert.equal(exporter.batches.length, 1, 'one export in flight at a time, however full the queue');
  assert.equal(await count('queue_full'), 2, 'the queue holds 4; the other 2 are dropped and counted');
  exporter.batches[0]!.answer(ok);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(exporter.batches.map((b) => b.names), [['a'], ['b', 'c']], 'a full batch follows as soon as the last export settles');
  exporter.batches[1]!.answer({ code: ExportResultCode.FAILED, error: new Error('503') });
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(await count('export_failed'), 2);
  assert.equal(await count(), 1);
  assert.deepEqual(exporter.batches.at(-1)!.names, ['d', 'e']);
});

test('an export with no answer is given up after the timeout, on the clock, and its spans counted as dropped', async () => {
  const { clock, exporter, end, count, processor, ok } = setUp({ maxQueueSize: 10, maxBatchSize: 1, delayMs: 10, timeoutMs: 2_000 });
  end('stuck', 'next');
  assert.equal(exporter.batches.length, 1);
  clock.advance(1_999);
  assert.equal(await count('export_failed'), 0);
  clock.advance(1);
  assert.equal(await count('export_failed'), 1);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(exporter.batches.map((b) => b.names), [['stuck'], ['next']]);
  exporter.batches[0]!.answer(ok);
  assert.equal(await count(), 0, 'a late answer for a batch given up changes nothing');
  const flushed = processor.forceFlush();
  exporter.batches[1]!.answer(ok);
  await flushed;
  assert.equal(await count(), 1);
});

// ----------------------------------------------------------------------------------------------
// End to end

let backend: TestBackend;
const agent = new Agent();
const dir = mkdtempSync(join(tmpdir(), 'meshwork-otlp-'));
before(async () => {
  backend = await startBackend('words');
});
after(async () => {
  await backend?.stop();
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const traceparent = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

function config(tracing: string, extra = ''): string {
  return `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  tracing: ${tracing}
  services:
    words: { endpoints: ["${backend.address}"]${extra} }
`;
}

async function viaSidecar(outbound: string, path: string): Promise<number> {
  const res = await request(`http://${outbound}${path}`, { dispatcher: agent, headers: { host: 'words', traceparent } });
  await res.body.dump();
  return res.statusCode;
}

test('mesh-sidecar with spec.tracing exports its spans over OTLP/HTTP: the request span under the caller\'s, the attempt under it', async () => {
  const receiver = await startOtlpReceiver();
  const sidecar = await startSidecarProcess(config(`{ otlp: { endpoint: "${receiver.url}" }, serviceName: words-sidecar, batch: { delay: 50ms } }`));
  try {
    assert.equal(await viaSidecar(sidecar.outbound, '/words/1'), 200);
    const spans = await receiver.waitForSpans(2);
    const requestSpan = spans.find((s) => s.name === 'GET words')!;
    const attempt = spans.find((s) => s.name === 'attempt 1')!;
    assert.ok(requestSpan && attempt, JSON.stringify(spans));
    assert.equal(requestSpan.serviceName, 'words-sidecar');
    assert.equal(requestSpan.traceId, TRACE_ID);
    assert.equal(requestSpan.parentSpanId, CALLER_SPAN);
    assert.equal(attempt.traceId, TRACE_ID);
    assert.equal(attempt.parentSpanId, requestSpan.spanId);
    assert.equal(attempt.attributes['server.address'], backend.address);
    const text = await sidecar.metrics();
    assert.equal(metricValue(text, 'meshwork_trace_spans_exported_total'), 2);
  } finally {
    await sidecar.stop();
    await receiver.close();
  }
});

test('with the collector down, every request is answered, and the spans are dropped and counted as export_failed', async () => {
  const gone = await startOtlpReceiver();
  const url = gone.url;
  await gone.close();
  const sidecar = await startSidecarProcess(config(`{ otlp: { endpoint: "${url}", timeout: 1s }, batch: { delay: 10ms } }`));
  try {
    for (let i = 0; i < 5; i++) assert.equal(await viaSidecar(sidecar.outbound, `/words/${i}`), 200);
    let dropped = 0;
    for (const deadline = Date.now() + 10_000; dropped === 0 && Date.now() < deadline; ) {
      dropped = metricValue(await sidecar.metrics(), 'meshwork_trace_spans_dropped_total', { reason: 'export_failed' });
      if (dropped === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(dropped > 0, 'failed exports are counted');
    assert.ok(sidecar.logs.some((l) => l.msg === 'span export failed; spans are dropped until the collector answers'), 'and logged once');
  } finally {
    await sidecar.stop();
  }
});

test('with a collector that never answers, the queue stays bounded: spans beyond it are dropped and counted, requests go on', async () => {
  const slow = await startOtlpReceiver({ slow: true });
  const sidecar = await startSidecarProcess(config(`{ otlp: { endpoint: "${slow.url}", timeout: 30s }, batch: { maxQueueSize: 4, maxSize: 2, delay: 10ms } }`));
  try {
    // 10 requests, 2 spans each: one batch of 2 is held by the collector, 4 wait, the rest are dropped.
    for (let i = 0; i < 10; i++) assert.equal(await viaSidecar(sidecar.outbound, `/words/${i}`), 200);
    const text = await sidecar.metrics();
    assert.equal(metricValue(text, 'meshwork_trace_spans_dropped_total', { reason: 'queue_full' }), 14);
    assert.equal(metricValue(text, 'meshwork_trace_export_queue_spans'), 4);
    assert.equal(slow.requests, 1, 'one export at a time to a collector that is slow');
  } finally {
    await sidecar.stop('SIGKILL');
    await slow.close();
  }
});

test('a library mesh created from a file with spec.tracing exports its own spans, and flushes them when it closes', async () => {
  const receiver = await startOtlpReceiver();
  const file = join(dir, 'library.yaml');
  writeFileSync(file, config(`{ otlp: { endpoint: "${receiver.url}" }, serviceName: simon }`));
  const mesh = createMesh({ config: file });
  try {
    const res = await mesh.client('words').request({ path: '/words/9', headers: { traceparent } });
    await res.body.dump();
    // Unsampled callers get no span exported.
    await (await mesh.client('words').request({ path: '/words/10', headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-00` } })).body.dump();
  } finally {
    await mesh.close();
  }
  assert.deepEqual(receiver.spans.map((s) => [s.serviceName, s.name, s.traceId]).sort(), [
    ['simon', 'GET words', TRACE_ID],
    ['simon', 'attempt 1', TRACE_ID],
  ]);
  await receiver.close();
});

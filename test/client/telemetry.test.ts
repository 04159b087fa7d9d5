/**
 * The in-process client's golden metrics (mesh.metrics / client.metrics) and OpenTelemetry spans,
 * against real backends, with an SDK installed the way an application would install one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, meshClient } from '../../src/index.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue } from '../helpers/sidecar-process.js';
import { withClient } from '../helpers/with-client.js';

const exporter = new InMemorySpanExporter();
let backend: TestBackend;

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  backend = await startBackend('reviews');
});
after(() => backend?.stop());

test('mesh.metrics counts requests and responses per service and route, in Linkerd\'s names', async () => {
  const mesh = createMesh({
    services: {
      reviews: {
        endpoints: [backend.address],
        retries: false,
        routes: [{ name: 'GET /reviews/{id}', condition: { method: 'GET', pathRegex: '/reviews/[^/]+' } }],
      },
    },
  });
  try {
    backend.behaviour = { script: [200, 200, 503] };
    for (const path of ['/reviews/1', '/reviews/2', '/reviews/3', '/other']) {
      const res = await mesh.client('reviews').request({ method: 'GET', path });
      await res.body.dump();
    }
    const text = await mesh.registry.metrics();
    const route = 'GET /reviews/{id}';
    assert.equal(metricValue(text, 'request_total', { direction: 'outbound', authority: 'reviews', route }), 3);
    assert.equal(metricValue(text, 'request_total', { authority: 'reviews', route: 'default' }), 1);
    assert.equal(metricValue(text, 'response_total', { route, status_code: '200', classification: 'success' }), 2);
    assert.equal(metricValue(text, 'response_total', { route, status_code: '503', classification: 'failure' }), 1);
    assert.equal(metricValue(text, 'response_latency_ms_count', { authority: 'reviews' }), 4);
    assert.equal(mesh.client('reviews').registry, mesh.registry);
  } finally {
    backend.behaviour = {};
    await mesh.close();
  }
});

test('a refused request is a failure with the error code, and stack events are counted', async () => {
  const dead = await startBackend('dead');
  await dead.stop();
  await withClient(meshClient('ratings', { endpoints: [dead.address], retries: { maxAttempts: 2, backoff: { base: 1, max: 2 } } }), async (client) => {
    await assert.rejects(client.request({ path: '/' }), { code: 'CONNECT_FAILED' });
    const text = await client.registry.metrics();
    assert.equal(metricValue(text, 'response_total', { authority: 'ratings', classification: 'failure', error: 'CONNECT_FAILED' }), 1);
    assert.equal(metricValue(text, 'meshwork_retries_total', { authority: 'ratings' }), 1);
  });
});

test('metrics: false records nothing', async () => {
  await withClient(meshClient('reviews', { endpoints: [backend.address], metrics: false }), async (client) => {
    const res = await client.request({ path: '/' });
    await res.body.dump();
    assert.equal(metricValue(await client.registry.metrics(), 'request_total'), 0);
  });
});

test('a request span with one child per attempt; the backend sees the last attempt as its parent', async () => {
  exporter.reset();
  backend.behaviour = { script: [503] };
  try {
    await withClient(meshClient('reviews', { endpoints: [backend.address], retries: { backoff: { base: 1, max: 2 } } }), async (client) => {
      const app = trace.getTracer('app').startSpan('handler');
      const res = await context.with(trace.setSpan(context.active(), app), () => client.request({ method: 'GET', path: '/traced' }));
      const seen = ((await res.body.json()) as { headers: Record<string, string> }).headers;
      app.end();

      const spans = exporter.getFinishedSpans();
      const request = spans.find((s) => s.name === 'GET reviews')!;
      const attempts = spans.filter((s) => s.name.startsWith('attempt ')).sort((a, b) => a.name.localeCompare(b.name));
      assert.ok(request, 'a request span');
      assert.equal(attempts.length, 2);
      // The request span is a child of whatever span the app had active; attempts are its children.
      assert.equal(request.parentSpanContext?.spanId, app.spanContext().spanId);
      for (const attempt of attempts) assert.equal(attempt.parentSpanContext?.spanId, request.spanContext().spanId);
      assert.equal(attempts[0]!.attributes['http.response.status_code'], 503);
      assert.equal(attempts[1]!.attributes['http.response.status_code'], 200);
      const [, traceId, parentId] = seen.traceparent!.split('-');
      assert.equal(traceId, app.spanContext().traceId);
      assert.equal(parentId, attempts[1]!.spanContext().spanId);
    });
  } finally {
    backend.behaviour = {};
  }
});

test('latency histogram: a value on a bucket bound counts in that bucket; buckets are cumulative, +Inf is the count', async () => {
  const { MeshMetrics } = await import('../../src/index.js');
  const metrics = new MeshMetrics();
  for (const ms of [0.5, 1, 1.5, 5, 49_999, 70_000]) metrics.route('outbound', 'svc', undefined).responded(200, 'success', ms);
  const text = await metrics.registry.metrics();
  const bucket = (le: string) => metricValue(text, 'response_latency_ms_bucket', { le, authority: 'svc' });
  assert.equal(bucket('1'), 2);
  assert.equal(bucket('2'), 3);
  assert.equal(bucket('5'), 4);
  assert.equal(bucket('50000'), 5);
  assert.equal(bucket('+Inf'), 6);
  assert.equal(metricValue(text, 'response_latency_ms_count', { authority: 'svc' }), 6);
  assert.equal(metricValue(text, 'response_latency_ms_sum', { authority: 'svc' }), 0.5 + 1 + 1.5 + 5 + 49_999 + 70_000);
});

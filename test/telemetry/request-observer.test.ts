/**
 * The request path's one hook for the admin views: the metrics filter reports each finished request
 * to `MeshMetrics.observer` (with its final status, attempts, endpoint and error) and forwards stack
 * events, while something listens; with no listener it builds nothing. Real backends on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMesh, ManualClock, meshClient, MeshMetrics, seededRandom } from '../../src/index.js';
import type { CompletedRequest } from '../../src/telemetry/request-observer.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { withClient } from '../helpers/with-client.js';

let backend: TestBackend;
before(async () => {
  backend = await startBackend('reviews');
});
after(() => backend?.stop());

function collect(metrics: MeshMetrics): { events: CompletedRequest[]; stackEvents: string[]; stop: () => void } {
  const events: CompletedRequest[] = [];
  const stackEvents: string[] = [];
  const stop = metrics.observer.listen({ completed: (e) => events.push(e), stackEvent: (authority, event, by) => stackEvents.push(`${authority} ${event} ${by}`) });
  return { events, stackEvents, stop };
}

test('a finished request is reported once, after its retries, with route, endpoint, attempts and status', async () => {
  const metrics = new MeshMetrics();
  const seen = collect(metrics);
  const routes = [{ name: 'GET /reviews/{id}', condition: { method: 'GET', pathRegex: '/reviews/[^/]+' }, isRetryable: true }];
  await withClient(meshClient('reviews', { endpoints: [backend.address], metrics, routes, retries: { backoff: { base: 1, max: 1 } } }), async (client) => {
    backend.behaviour = { script: [503] };
    const res = await client.request({ method: 'GET', path: '/reviews/7', headers: { 'x-trace-me': 'yes' } });
    await res.body.dump();
  });
  backend.behaviour = {};
  assert.equal(seen.events.length, 1, 'one event for one request, however many attempts');
  const [event] = seen.events;
  assert.deepEqual(
    { ...event!, request: undefined, response: undefined, at: undefined, latencyMs: undefined },
    {
      direction: 'outbound',
      service: 'reviews',
      authority: 'reviews',
      route: 'GET /reviews/{id}',
      endpoint: backend.address,
      attempts: 2,
      statusCode: 200,
      grpcStatus: undefined,
      classification: 'success',
      error: undefined,
      peer: undefined,
      request: undefined,
      response: undefined,
      at: undefined,
      latencyMs: undefined,
    },
  );
  assert.equal(event!.request.path, '/reviews/7');
  assert.equal(event!.response?.statusCode, 200);
  assert.ok(event!.latencyMs >= 0);
  assert.deepEqual(seen.stackEvents, ['reviews retries_total 1']);
});

test('a request that fails without a response is reported with its error code, the default route and a failure', async () => {
  const dead = await startBackend('dead');
  await dead.stop();
  const metrics = new MeshMetrics();
  const seen = collect(metrics);
  await withClient(meshClient('ratings', { endpoints: [dead.address], metrics, retries: false }), async (client) => {
    await assert.rejects(client.request({ method: 'POST', path: '/rate', body: 'x' }), { code: 'CONNECT_FAILED' });
  });
  assert.equal(seen.events.length, 1);
  const event = seen.events[0]!;
  assert.equal(event.error, 'CONNECT_FAILED');
  assert.equal(event.classification, 'failure');
  assert.equal(event.route, undefined);
  assert.equal(event.statusCode, undefined);
  assert.equal(event.response, undefined);
  assert.equal(event.endpoint, dead.address);
  assert.equal(event.request.method, 'POST');
});

test('with no listener the hook builds nothing: completed() is never called, and a listener that throws is cut off, not the request', async () => {
  const metrics = new MeshMetrics();
  let calls = 0;
  const original = metrics.observer.completed.bind(metrics.observer);
  metrics.observer.completed = (event) => {
    calls++;
    original(event);
  };
  await withClient(meshClient('reviews', { endpoints: [backend.address], metrics }), async (client) => {
    await (await client.request({ path: '/a' })).body.dump();
    assert.equal(calls, 0, 'no listener: the request path must not even call the observer');

    const stop = metrics.observer.listen({
      completed: () => {
        throw new Error('a broken listener');
      },
    });
    const res = await client.request({ path: '/b' });
    assert.equal(res.statusCode, 200, 'the request is unaffected by its listener failing');
    await res.body.dump();
    assert.equal(calls, 1);
    assert.equal(metrics.observer.active, false, 'the failing listener was removed');
    await (await client.request({ path: '/c' })).body.dump();
    assert.equal(calls, 1);
    stop();
  });
});

test('client.status(): the breaker state, and every destination\'s endpoints with load, EWMA and ejection time left', async () => {
  const clock = new ManualClock(1_000);
  const dead = await startBackend('dead');
  await dead.stop();
  const mesh = createMesh({
    clock,
    random: seededRandom(7),
    services: {
      reviews: {
        endpoints: [dead.address],
        balancer: 'p2c-ewma',
        retries: false,
        outlierDetection: { consecutiveFailures: 1, baseEjectionTime: '30s' },
        circuitBreaker: { volumeThreshold: 1000 },
        split: [{ service: 'reviews', weight: 50 }, { service: 'reviews-v2', weight: 50 }],
      },
      'reviews-v2': { endpoints: [backend.address] },
    },
  });
  try {
    const client = mesh.client('reviews');
    for (let i = 0; i < 12; i++) {
      await client.request({ path: '/' }).then((r) => r.body.dump(), () => undefined);
    }
    const status = client.status();
    assert.deepEqual(status.breaker, { state: 'closed', probeInMs: undefined });
    assert.deepEqual(status.destinations.map((d) => d.destination), ['reviews', 'reviews-v2']);
    const [own, canary] = status.destinations.map((d) => d.endpoints[0]!);
    assert.equal(own!.endpoint, dead.address);
    assert.equal(own!.ejected, true);
    assert.equal(own!.ejectedForMs, 30_000, 'ejected for the base time, read on the clock');
    assert.deepEqual({ ...canary!, ewmaMs: typeof canary!.ewmaMs }, { endpoint: backend.address, pending: 0, ejected: false, ejectedForMs: 0, ewmaMs: 'number' });
    clock.advance(10_000);
    const later = client.status().destinations[0]!.endpoints[0]!;
    assert.equal(later.ejectedForMs, 20_000);
    assert.equal(later.ejected, true, 'reading the status readmits nothing');
  } finally {
    await mesh.close();
  }
});

/**
 * The adaptive concurrency limit through meshClient against a real HTTP server that holds every
 * request until the test releases it. Time is a ManualClock: a request's round-trip time is the
 * clock time the test lets pass while the server holds it, so "latency rose tenfold" is exact.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMesh, isMeshError, meshClient, type MeshClient } from '../../src/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { Params } from '../../src/core/params.js';
import type { HttpService } from '../../src/http/http-stack.js';
import { adaptiveConcurrencyModule } from '../../src/filters/adaptive-concurrency.js';
import { LimitsParam } from '../../src/policy/policy-params.js';
import { startHoldingBackend, type HoldingBackend, type SeenRequest } from '../helpers/holding-backend.js';

let backend: HoldingBackend;
before(async () => {
  backend = await startHoldingBackend('capacity', () => 'hold');
});
after(async () => {
  await backend?.stop();
});

async function withLimitedClient(adaptive: Record<string, number>, run: (client: MeshClient, clock: ManualClock) => Promise<void>): Promise<void> {
  backend.requests.drain();
  const clock = new ManualClock();
  const client = meshClient('svc', { endpoints: [backend.address], clock, retries: false, circuitBreaker: false, outlierDetection: false, limits: { adaptive } });
  try {
    await run(client, clock);
  } finally {
    for (const held of backend.requests.all) held.release();
    await client.close();
  }
}

/** The limit as Prometheus would scrape it. */
async function scrapedLimit(client: MeshClient): Promise<number | undefined> {
  const text = await client.registry.getSingleMetricAsString('meshwork_concurrency_limit');
  const value = /meshwork_concurrency_limit\{authority="svc"\} (\d+)/.exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** `n` requests at once, held by the server for `rttMs` of clock time, then answered. */
async function round(client: MeshClient, clock: ManualClock, n: number, rttMs: number): Promise<void> {
  const responses = Array.from({ length: n }, (_, i) => client.request({ path: `/${i}` }));
  const held: SeenRequest[] = [];
  for (let i = 0; i < n; i++) held.push(await backend.requests.next(`request ${i + 1} of ${n}`));
  clock.advance(rttMs);
  for (const request of held) request.release();
  for (const response of await Promise.all(responses)) await response.body.text();
}

test('requests over the limit are refused at once with CONCURRENCY_LIMITED, never sent, and the limit is a metric', async () => {
  await withLimitedClient({ initialLimit: 4, minLimit: 2, maxLimit: 16 }, async (client) => {
    assert.equal(await scrapedLimit(client), 4);
    const admitted = Array.from({ length: 4 }, () => client.request({ path: '/' }));
    for (let i = 0; i < 4; i++) await backend.requests.next();
    await assert.rejects(client.request({ path: '/over' }), (err: unknown) => isMeshError(err, 'CONCURRENCY_LIMITED') && /4 requests in flight reach the adaptive concurrency limit/.test(err.message));
    assert.equal(client.counters().concurrency_limited_total, 1);
    for (const held of backend.requests.all) held.release();
    await Promise.all(admitted);
    assert.ok(backend.requests.all.every((r) => r.url !== '/over'), 'the refused request never reached the server');
  });
});

test('the limit follows latency: it shrinks when the RTT rises well above its baseline, sheds the excess, and grows back when the RTT recovers', async () => {
  // queueSize is the headroom added to every estimate, so it also sets how low a sustained overload
  // can push the limit (the estimate settles where limit = limit / 2 + queueSize): 1 lets it reach 2.
  // One sample window per round: each round lets 10 ms pass.
  await withLimitedClient({ initialLimit: 8, minLimit: 2, maxLimit: 32, smoothing: 0.5, queueSize: 1, sampleWindow: 10, minWindowSamples: 1 }, async (client, clock) => {
    // More windows than Gradient2's warm-up (its first 10 samples are a plain mean), so the baseline is set.
    for (let i = 0; i < 12; i++) await round(client, clock, (await scrapedLimit(client))!, 10);
    const atBaseline = (await scrapedLimit(client))!;
    assert.ok(atBaseline > 8, `at a steady 10 ms the limit probes upwards (now ${atBaseline})`);

    for (let i = 0; i < 10; i++) await round(client, clock, (await scrapedLimit(client))!, 100);
    const overloaded = (await scrapedLimit(client))!;
    assert.ok(overloaded <= 3, `ten times the baseline drives it down near minLimit (now ${overloaded})`);
    const admitted = Array.from({ length: overloaded }, (_, i) => client.request({ path: `/admitted-${i}` }));
    for (let i = 0; i < overloaded; i++) await backend.requests.next();
    await assert.rejects(client.request({ path: '/shed' }), (err: unknown) => isMeshError(err, 'CONCURRENCY_LIMITED'));
    for (const held of backend.requests.all) held.release();
    await Promise.all(admitted);

    for (let i = 0; i < 10; i++) await round(client, clock, (await scrapedLimit(client))!, 10);
    const recovered = (await scrapedLimit(client))!;
    assert.ok(recovered >= overloaded + 3, `back at 10 ms the limit grows again (now ${recovered})`);
  });
});

test('the gauge goes with its client: closing the client stops exporting its limit', async () => {
  const mesh = createMesh({ services: { svc: { endpoints: [backend.address], limits: { adaptive: true } } } });
  const client = mesh.client('svc');
  try {
    assert.deepEqual(client.settings.policy.limits, { adaptive: {} }, '`adaptive: true` is Gradient2 with its defaults');
    assert.equal(await scrapedLimit(client), 20, "the default initial limit (Netflix's)");
  } finally {
    await mesh.close();
  }
  assert.equal(await scrapedLimit(client), undefined);
});

test('off, the module is not in the path at all', () => {
  const next: HttpService = { call: () => Promise.reject(new Error('unused')), close: async () => {} };
  assert.equal(adaptiveConcurrencyModule.make(Params.empty, next), next);
  assert.equal(adaptiveConcurrencyModule.make(Params.empty.with(LimitsParam, { maxConcurrency: 5 }), next), next);
});

test('bad limits are refused with the field and the value, from options and from code alike', () => {
  assert.throws(
    () => meshClient('svc', { endpoints: ['127.0.0.1:1'], limits: { adaptive: { minLimit: 10, maxLimit: 5 } } }),
    (err: unknown) => isMeshError(err, 'INVALID_OPTIONS') && /limits\.adaptive\.maxLimit: maxLimit \(5\) must not be below minLimit \(10\)/.test(err.message),
  );
  const next: HttpService = { call: () => Promise.reject(new Error('unused')), close: async () => {} };
  assert.throws(() => adaptiveConcurrencyModule.make(Params.empty.with(LimitsParam, { adaptive: { smoothing: 2 } }), next), /limits\.adaptive\.smoothing must be above 0 and at most 1, got 2/);
});

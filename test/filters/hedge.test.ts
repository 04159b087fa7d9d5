/**
 * Hedged requests through meshClient against two real HTTP servers. Time is a ManualClock: a
 * request's latency is the clock time that passes while its server holds it, and the backup's
 * timer fires only when the test moves the clock, so "slower than the percentile" is exact.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { isMeshError, meshClient, type MeshClient, type MeshClientOptions } from '../../src/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { Params } from '../../src/core/params.js';
import { filterModule } from '../../src/core/stack.js';
import type { HttpService } from '../../src/http/http-stack.js';
import { hedgeModule } from '../../src/filters/hedge.js';
import { HedgingParam, RoutesParam } from '../../src/policy/policy-params.js';
import { EventQueue } from '../helpers/event-queue.js';
import { startHoldingBackend, type HoldingBackend, type SeenRequest } from '../helpers/holding-backend.js';

let backends: HoldingBackend[];
/** Requests arriving at either server, in order. */
let arrivals: EventQueue<SeenRequest>;
/** How many of the next requests (at either server) are held rather than answered 200. */
let toHold = 0;

before(async () => {
  const decide = (req: SeenRequest): 'hold' | number => {
    arrivals.push(req);
    if (toHold === 0) return 200;
    toHold--;
    return 'hold';
  };
  backends = [await startHoldingBackend('a', decide), await startHoldingBackend('b', decide)];
});
after(async () => {
  await Promise.all(backends.map((b) => b.stop()));
});

const routes = [
  { name: 'reads', condition: { method: 'GET' }, isIdempotent: true },
  { name: 'writes', condition: { method: 'POST' } },
];

/** Each attempt's status as the stack below the hedge sees it arrive, for tests that order two answers. */
let attemptAnswers: EventQueue<number>;
const attemptAnswersModule = filterModule<Parameters<HttpService['call']>[0], Awaited<ReturnType<HttpService['call']>>>('attempt-answers', 'test: reports each attempt\'s status', (req, ctx, next) =>
  next.call(req, ctx).then((res) => (attemptAnswers.push(res.statusCode), res)),
);

async function withHedging(options: Partial<MeshClientOptions>, run: (client: MeshClient, clock: ManualClock) => Promise<void>): Promise<void> {
  toHold = 0;
  const clock = new ManualClock();
  const client = meshClient('svc', {
    endpoints: backends.map((b) => b.address),
    clock,
    circuitBreaker: false,
    outlierDetection: false,
    routes,
    hedging: { minSamples: 5 },
    stack: (stack) => stack.insertAfter('hedge', attemptAnswersModule),
    ...options,
  });
  try {
    // Five immediate answers: the route's p95 is under a millisecond, so backups go after minDelay (1 ms).
    arrivals = new EventQueue();
    attemptAnswers = new EventQueue();
    for (let i = 0; i < 5; i++) await client.request({ path: '/warm-up' });
    arrivals = new EventQueue();
    attemptAnswers = new EventQueue();
    await run(client, clock);
  } finally {
    // A test that failed half-way may leave a request held, and closing waits for requests in flight.
    for (const held of arrivals.all) held.release();
    await client.close();
  }
}

test('a first attempt slower than the percentile gets a backup on the other endpoint; the backup wins and the first is cancelled', async () => {
  await withHedging({}, async (client, clock) => {
    toHold = 1;
    const response = client.request({ path: '/slow' });
    const first = await arrivals.next('first attempt');
    assert.equal(client.counters().hedges_total, undefined, 'no backup before the percentile');
    clock.advance(1);
    const backup = await arrivals.next('backup');
    assert.notEqual(backup.backend, first.backend);
    assert.equal(backup.url, '/slow');
    const res = await response;
    assert.equal(res.headers['x-backend'], backup.backend);
    await first.closed;
    assert.equal(client.counters().hedges_total, 1);
    assert.equal(client.counters().hedge_wins_total, 1);
  });
});

test('an answer before the percentile sends no backup', async () => {
  await withHedging({}, async (client, clock) => {
    assert.equal((await client.request({ path: '/fast' })).statusCode, 200);
    clock.advance(100);
    assert.equal(client.counters().hedges_total, undefined);
    assert.equal(arrivals.all.length, 1);
  });
});

test('the first to answer wins, whichever: a first attempt that answers after the backup went out cancels the backup', async () => {
  await withHedging({}, async (client, clock) => {
    toHold = 2;
    const response = client.request({ path: '/x' });
    const first = await arrivals.next();
    clock.advance(1);
    const backup = await arrivals.next();
    first.release(200);
    assert.equal((await response).headers['x-backend'], first.backend);
    await backup.closed;
    assert.equal(client.counters().hedge_wins_total, undefined);
  });
});

test('a failure does not win while the other attempt may still succeed; when both fail the later failure is returned', async () => {
  await withHedging({}, async (client, clock) => {
    toHold = 2;
    let response = client.request({ path: '/one-fails' });
    let first = await arrivals.next();
    clock.advance(1);
    let backup = await arrivals.next();
    first.release(503);
    assert.equal(await attemptAnswers.next('the first attempt\'s 503'), 503);
    backup.release(200);
    assert.equal((await response).statusCode, 200);

    toHold = 2;
    attemptAnswers.drain();
    response = client.request({ path: '/both-fail' });
    first = await arrivals.next();
    clock.advance(1);
    backup = await arrivals.next();
    backup.release(500);
    assert.equal(await attemptAnswers.next('the backup\'s 500'), 500);
    first.release(503);
    const res = await response;
    assert.equal(res.statusCode, 503, 'the reads route is not retryable: the later failure is what the caller gets');
  });
});

test('backups are paid from the retry budget: with none left the first attempt goes on alone, and that is counted', async () => {
  await withHedging({ retries: { budget: { retryRatio: 0, minRetriesPerSecond: 0 } } }, async (client, clock) => {
    toHold = 1;
    const response = client.request({ path: '/x' });
    const first = await arrivals.next();
    clock.advance(1);
    assert.equal(client.counters().hedge_budget_exhausted_total, 1);
    assert.equal(client.counters().hedges_total, undefined);
    first.release(200);
    assert.equal((await response).statusCode, 200);
    assert.equal(arrivals.all.length, 1);
  });
});

test('only routes marked isIdempotent are hedged, and only with a body that can be sent twice', async () => {
  await withHedging({}, async (client, clock) => {
    toHold = 1;
    let response = client.request({ method: 'POST', path: '/write', body: 'x' });
    let first = await arrivals.next();
    clock.advance(100);
    first.release(200);
    await response;
    toHold = 1;
    response = client.request({ method: 'GET', path: '/streamed', body: Readable.from([Buffer.from('x')]) });
    first = await arrivals.next();
    clock.advance(100);
    first.release(200);
    await response;
    assert.equal(client.counters().hedges_total, undefined);
    assert.equal(arrivals.all.length, 2);
  });
});

test("the backup waits for the route's observed percentile of latency", async () => {
  await withHedging({ hedging: { minSamples: 20, percentile: 95 } }, async (client, clock) => {
    // Twenty requests of 10 ms each (the five warm-up ones were immediate: 25 observed in all, p95 is 10 ms).
    for (let i = 0; i < 20; i++) {
      toHold = 1;
      const response = client.request({ path: '/ten-ms' });
      const held = await arrivals.next();
      clock.advance(10);
      held.release(200);
      await response;
    }
    assert.equal(client.counters().hedges_total, undefined, 'not hedged before minSamples');
    toHold = 1;
    const response = client.request({ path: '/slow' });
    const first = await arrivals.next();
    clock.advance(9);
    assert.equal(client.counters().hedges_total, undefined, 'not at 9 ms');
    clock.advance(2);
    assert.equal(client.counters().hedges_total, 1, 'at 11 ms');
    await arrivals.next('backup');
    await response;
    await first.closed;
  });
});

test('the caller giving up cancels both attempts', async () => {
  await withHedging({}, async (client, clock) => {
    toHold = 2;
    const controller = new AbortController();
    const response = client.request({ path: '/x', signal: controller.signal });
    const first = await arrivals.next();
    clock.advance(1);
    const backup = await arrivals.next();
    controller.abort(new Error('caller gave up'));
    await assert.rejects(response, /caller gave up/);
    await Promise.all([first.closed, backup.closed]);
  });
});

test('off (no hedging, or no idempotent route), the module is not in the path at all', () => {
  const next: HttpService = { call: () => Promise.reject(new Error('unused')), close: async () => {} };
  assert.equal(hedgeModule.make(Params.empty.with(RoutesParam, routes), next), next);
  assert.equal(hedgeModule.make(Params.empty.with(HedgingParam, {}).with(RoutesParam, [routes[1]!]), next), next);
});

test('bad hedging options are refused with the field and the value', () => {
  assert.throws(
    () => meshClient('svc', { endpoints: ['127.0.0.1:1'], hedging: { percentile: 100 } }),
    (err: unknown) => isMeshError(err, 'INVALID_OPTIONS') && /hedging\.percentile: expected a percentile above 0 and below 100/.test(err.message),
  );
  const next: HttpService = { call: () => Promise.reject(new Error('unused')), close: async () => {} };
  assert.throws(() => hedgeModule.make(Params.empty.with(HedgingParam, { windowMs: 1 }).with(RoutesParam, routes), next), /hedging: windowMs must be at least 10 ms, got 1/);
});

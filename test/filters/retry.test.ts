import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { httpEndpoint } from '../../src/client/http-endpoint.js';
import type { HttpService } from '../../src/client/default-stack.js';
import type { MeshRequest, MeshResponse } from '../../src/http/http-types.js';
import { ManualClock, type Clock, type Random } from '../../src/core/clock.js';
import { ClockParam, CountersParam, RandomParam } from '../../src/core/core-params.js';
import { Counters } from '../../src/core/counters.js';
import { MeshError } from '../../src/core/errors.js';
import { Params } from '../../src/core/params.js';
import type { RetryPolicy, RoutePolicy } from '../../src/core/policy.js';
import { newCallContext, type CallContext } from '../../src/core/service.js';
import { retryModule } from '../../src/filters/retry.js';
import { RetryPolicyParam } from '../../src/policy/policy-params.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function backend(status: (hit: number) => number): Promise<TestBackend> {
  const b = await startBackend('retry-backend');
  // The helper reads behaviour.status per request, after counting the hit.
  b.behaviour = { get status() { return status(b.hits); } };
  cleanups.push(() => b.stop());
  return b;
}

function endpoint(port: number): HttpService {
  const service = httpEndpoint({ host: '127.0.0.1', port });
  cleanups.push(() => service.close());
  return service;
}

interface Harness {
  service: HttpService;
  counters: Counters;
  clock: ManualClock;
  /** Resolves with each backoff wait the filter starts, in ms. */
  nextWait(): Promise<number>;
}

/** The retry filter over `terminal`, on a ManualClock that tells when a backoff wait starts. */
function retrying(terminal: HttpService, policy: RetryPolicy = {}, random: Random = () => 0.5): Harness {
  const manual = new ManualClock();
  const waits: number[] = [];
  let wake: (() => void) | undefined;
  const clock: Clock = {
    now: () => manual.now(),
    wallNow: () => manual.wallNow(),
    setTimer(fn, ms) {
      waits.push(ms);
      wake?.();
      return manual.setTimer(fn, ms);
    },
  };
  const counters = new Counters();
  const params = Params.empty
    .with(ClockParam, clock)
    .with(RandomParam, random)
    .with(CountersParam, counters)
    .with(RetryPolicyParam, policy);
  return {
    service: retryModule.make(params, terminal),
    counters,
    clock: manual,
    nextWait: async () => {
      while (waits.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return waits.shift()!;
    },
  };
}

/** Zero backoff: retries go at once and never wait on the (never advanced) ManualClock. */
const noWait: RetryPolicy = { backoff: { baseMs: 0, maxMs: 0 } };

function ctxFor(routePolicy?: RoutePolicy, signal?: AbortSignal): CallContext {
  const ctx = newCallContext('reviews', signal);
  ctx.routePolicy = routePolicy;
  return ctx;
}

const retryableRoute: RoutePolicy = { name: 'post-reviews', condition: { method: 'POST' }, isRetryable: true };

async function send(service: HttpService, req: MeshRequest, ctx = ctxFor()): Promise<{ status: number; res: MeshResponse }> {
  const res = await service.call(req, ctx);
  return { status: res.statusCode, res };
}

test('a backend that fails its first two requests with 503 is recovered by retries', async () => {
  const b = await backend((hit) => (hit <= 2 ? 503 : 200));
  const { service, counters } = retrying(endpoint(b.port), noWait);
  const ctx = ctxFor();
  const { status, res } = await send(service, { method: 'GET', path: '/reviews/1' }, ctx);
  await res.body.dump();
  assert.equal(status, 200);
  assert.equal(b.hits, 3);
  assert.equal(ctx.attempt, 3);
  assert.equal(counters.get('retries_total'), 2);
});

test('a backend failing every other request serves every call', async () => {
  const b = await backend((hit) => (hit % 2 === 1 ? 503 : 200));
  const { service, counters } = retrying(endpoint(b.port), noWait);
  for (let i = 0; i < 10; i++) {
    const { status, res } = await send(service, { method: 'GET', path: `/reviews/${i}` });
    await res.body.dump();
    assert.equal(status, 200);
  }
  assert.equal(b.hits, 20);
  assert.equal(counters.get('retries_total'), 10);
});

test('under total failure the budget caps what the backend sees: 100 requests, 120 retries', async () => {
  const b = await backend(() => 503);
  // Linkerd's defaults: 10 retries/s over 10 s, plus 20 % of the 100 requests.
  const { service, counters, clock } = retrying(endpoint(b.port), noWait);
  let failed = 0;
  for (let i = 0; i < 100; i++) {
    const { status, res } = await send(service, { method: 'GET', path: '/' });
    await res.body.dump();
    if (status === 503) failed++;
    clock.advance(10); // 100 requests over 1 s: all inside the 10 s window
  }
  assert.equal(failed, 100);
  assert.equal(counters.get('retries_total'), 120);
  assert.equal(b.hits, 100 + 120, 'upstream attempts = requests + budgeted retries, not requests x maxAttempts');
  assert.ok(counters.get('retry_budget_exhausted_total') > 0);
});

test('an exhausted budget returns the last 503 response at once, body unread', async () => {
  const b = await backend(() => 503);
  // Backoff would wait 500 ms on a clock nobody advances: returning proves it never waited.
  const { service, counters } = retrying(endpoint(b.port), { budget: { retryRatio: 0, minRetriesPerSecond: 0 }, backoff: { baseMs: 1_000 } });
  const { status, res } = await send(service, { method: 'GET', path: '/x' });
  assert.equal(status, 503);
  const body = (await res.body.json()) as { backend: string; path: string };
  assert.equal(body.path, '/x');
  assert.equal(b.hits, 1);
  assert.equal(counters.get('retry_budget_exhausted_total'), 1);
  assert.equal(counters.get('retries_total'), 0);
});

test('maxAttempts caps retries per request even with budget to spare', async () => {
  const b = await backend(() => 503);
  const { service } = retrying(endpoint(b.port), { ...noWait, maxAttempts: 3 });
  const { status, res } = await send(service, { method: 'GET', path: '/' });
  await res.body.dump();
  assert.equal(status, 503);
  assert.equal(b.hits, 3);
});

test('a POST Buffer body is replayed byte-exact on each retry', async () => {
  const b = await backend((hit) => (hit <= 2 ? 503 : 200));
  const { service } = retrying(endpoint(b.port), noWait);
  const payload = randomBytes(10_000);
  const { status, res } = await send(service, { method: 'POST', path: '/reviews', body: payload }, ctxFor(retryableRoute));
  await res.body.dump();
  assert.equal(status, 200);
  assert.equal(b.hits, 3);
  for (const received of b.bodies) assert.ok(received.equals(payload));
});

function slowStream(chunks: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) {
        await new Promise((resolve) => setImmediate(resolve));
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
}

test('a POST Readable body is buffered and replayed byte-exact on each retry', async () => {
  const b = await backend((hit) => (hit <= 2 ? 503 : 200));
  const { service, counters } = retrying(endpoint(b.port), noWait);
  const chunks = [randomBytes(20_000), randomBytes(20_000), randomBytes(3)];
  const payload = Buffer.concat(chunks);
  const { status, res } = await send(service, { method: 'POST', path: '/reviews', body: slowStream(chunks) }, ctxFor(retryableRoute));
  await res.body.dump();
  assert.equal(status, 200);
  assert.equal(b.hits, 3);
  assert.equal(b.bodies.length, 3);
  for (const received of b.bodies) assert.ok(received.equals(payload), `received ${received.length} bytes, sent ${payload.length}`);
  assert.equal(counters.get('retry_skipped_body_too_large_total'), 0);
});

test('a stream body over maxBodyBytes is sent whole, once, and not retried', async () => {
  const b = await backend(() => 503);
  const { service, counters } = retrying(endpoint(b.port), { ...noWait, maxBodyBytes: 1_024 });
  const chunks = [randomBytes(1_000), randomBytes(1_000), randomBytes(1_000), randomBytes(1_000)];
  const { status, res } = await send(service, { method: 'POST', path: '/upload', body: slowStream(chunks) }, ctxFor(retryableRoute));
  await res.body.dump();
  assert.equal(status, 503);
  assert.equal(b.hits, 1);
  assert.ok(b.bodies[0]!.equals(Buffer.concat(chunks)), 'the bytes read ahead and the rest arrive in order');
  assert.equal(counters.get('retry_skipped_body_too_large_total'), 1);
  assert.equal(counters.get('retries_total'), 0);
});

test('a POST with no route policy is not retried on 503', async () => {
  const b = await backend(() => 503);
  const { service, counters } = retrying(endpoint(b.port), noWait);
  const { status, res } = await send(service, { method: 'POST', path: '/orders', body: 'x' });
  await res.body.dump();
  assert.equal(status, 503);
  assert.equal(b.hits, 1);
  assert.equal(counters.get('retries_total'), 0);
});

test('retryNonRouted: true retries a POST with no route policy', async () => {
  const b = await backend((hit) => (hit === 1 ? 503 : 200));
  const { service } = retrying(endpoint(b.port), { ...noWait, retryNonRouted: true });
  const { status, res } = await send(service, { method: 'POST', path: '/orders', body: 'x' });
  await res.body.dump();
  assert.equal(status, 200);
  assert.equal(b.hits, 2);
});

test('a POST is retried on CONNECT_FAILED, on any route or none: the request never reached the app', async () => {
  const dead = await startBackend('dead');
  await dead.stop();
  const live = await backend(() => 200);
  const deadEndpoint = endpoint(dead.port);
  const liveEndpoint = endpoint(live.port);
  const seen: string[] = [];
  // A stand-in for the balancer: the first attempt goes to the closed port, the retry elsewhere.
  const terminal: HttpService = {
    call: async (req, ctx) => {
      try {
        return await (ctx.attempt === 1 ? deadEndpoint : liveEndpoint).call(req, ctx);
      } catch (err) {
        seen.push((err as MeshError).code);
        throw err;
      }
    },
    close: async () => {},
  };
  const { service, counters } = retrying(terminal, noWait);
  const notRetryable: RoutePolicy = { name: 'POST /orders', condition: { method: 'POST' }, isRetryable: false };
  for (const [i, route] of [undefined, notRetryable].entries()) {
    const { status, res } = await send(service, { method: 'POST', path: '/orders', body: `order-${i}` }, ctxFor(route));
    await res.body.dump();
    assert.equal(status, 200);
    assert.equal(live.bodies[i]!.toString(), `order-${i}`);
  }
  assert.deepEqual(seen, ['CONNECT_FAILED', 'CONNECT_FAILED']);
  assert.equal(live.hits, 2);
  assert.equal(counters.get('retries_total'), 2);
});

test('a route with isRetryable: false is not retried, even for GET', async () => {
  const b = await backend(() => 503);
  const { service } = retrying(endpoint(b.port), noWait);
  const route: RoutePolicy = { name: 'get-reviews', condition: { method: 'GET' }, isRetryable: false };
  const { status, res } = await send(service, { method: 'GET', path: '/reviews' }, ctxFor(route));
  await res.body.dump();
  assert.equal(status, 503);
  assert.equal(b.hits, 1);
});

test('the route\'s response classes decide what a failure is', async () => {
  const b = await backend((hit) => (hit === 1 ? 429 : 200));
  const { service } = retrying(endpoint(b.port), noWait);
  const route: RoutePolicy = {
    name: 'get-reviews',
    condition: {},
    isRetryable: true,
    responseClasses: [{ condition: { status: { min: 429, max: 429 } }, isFailure: true }],
  };
  const { status, res } = await send(service, { method: 'GET', path: '/' }, ctxFor(route));
  await res.body.dump();
  assert.equal(status, 200);
  assert.equal(b.hits, 2);
});

test('a connection broken mid-request (ENDPOINT_FAILED) is retried for GET, not for POST', async () => {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (hits % 2 === 1) req.socket.destroy();
    else res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  const { service } = retrying(endpoint((server.address() as AddressInfo).port), noWait);

  const { status, res } = await send(service, { method: 'GET', path: '/' });
  assert.equal(await res.body.text(), 'ok');
  assert.equal(status, 200);
  assert.equal(hits, 2);

  await assert.rejects(service.call({ method: 'POST', path: '/', body: 'x' }, ctxFor()), (err: unknown) => (err as MeshError).code === 'ENDPOINT_FAILED');
  assert.equal(hits, 3);
});

test('an injected fault response (x-meshwork-fault: abort) is never retried', async () => {
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    res.writeHead(503, { 'x-meshwork-fault': 'abort' }).end('fault');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  const { service, counters } = retrying(endpoint((server.address() as AddressInfo).port), noWait);
  const { status, res } = await send(service, { method: 'GET', path: '/' });
  assert.equal(await res.body.text(), 'fault');
  assert.equal(status, 503);
  assert.equal(hits, 1);
  assert.equal(counters.get('retries_total'), 0);
});

test('errors raised above the transport (CIRCUIT_OPEN, TIMEOUT, ...) are not retried', async () => {
  for (const code of ['CIRCUIT_OPEN', 'CONCURRENCY_LIMITED', 'RATE_LIMITED', 'TIMEOUT'] as const) {
    let calls = 0;
    const terminal: HttpService = {
      call: async () => {
        calls++;
        throw new MeshError(code, 'no');
      },
      close: async () => {},
    };
    const { service } = retrying(terminal, noWait);
    await assert.rejects(service.call({ method: 'GET', path: '/' }, ctxFor()), (err: unknown) => (err as MeshError).code === code);
    assert.equal(calls, 1, code);
  }
});

test('the backoff waits on the injected clock before the retry goes', async () => {
  const b = await backend((hit) => (hit === 1 ? 503 : 200));
  // random 0.5 of a 100 ms first ceiling: a 50 ms wait.
  const { service, clock, nextWait } = retrying(endpoint(b.port), { backoff: { baseMs: 100 } }, () => 0.5);
  const pending = send(service, { method: 'GET', path: '/' });
  assert.equal(await nextWait(), 50);
  clock.advance(49);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(b.hits, 1, 'no retry before the backoff has elapsed on the clock');
  clock.advance(1);
  const { status, res } = await pending;
  await res.body.dump();
  assert.equal(status, 200);
  assert.equal(b.hits, 2);
});

test('no retry when the backoff would overrun the deadline', async () => {
  const b = await backend(() => 503);
  const { service, counters, clock } = retrying(endpoint(b.port), { backoff: { baseMs: 100 } }, () => 0.99);
  const ctx = ctxFor();
  ctx.deadline = clock.now() + 10;
  const { status, res } = await send(service, { method: 'GET', path: '/' }, ctx);
  await res.body.dump();
  assert.equal(status, 503);
  assert.equal(b.hits, 1);
  assert.equal(counters.get('retry_skipped_deadline_total'), 1);
  assert.equal(counters.get('retry_budget_exhausted_total'), 0, 'a skipped retry spends no budget');
});

test('the caller\'s abort during the backoff stops retries', async () => {
  const b = await backend(() => 503);
  const { service, clock, nextWait, counters } = retrying(endpoint(b.port), { backoff: { baseMs: 1_000 } });
  const controller = new AbortController();
  const pending = service.call({ method: 'GET', path: '/' }, ctxFor(undefined, controller.signal));
  await nextWait();
  controller.abort(new Error('caller gave up'));
  await assert.rejects(pending, /caller gave up/);
  clock.advance(60_000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(b.hits, 1);
  assert.equal(counters.get('retries_total'), 0);
});

test('retries: false removes the filter entirely', () => {
  const terminal: HttpService = { call: async () => { throw new Error('unused'); }, close: async () => {} };
  assert.equal(retryModule.make(Params.empty.with(RetryPolicyParam, false), terminal), terminal);
});

test('invalid settings fail when the stack is built, with INVALID_OPTIONS', () => {
  const terminal: HttpService = { call: async () => { throw new Error('unused'); }, close: async () => {} };
  for (const policy of [{ maxAttempts: 0 }, { maxBodyBytes: -1 }, { budget: { retryRatio: -1 } }, { backoff: { baseMs: -5 } }]) {
    assert.throws(() => retryModule.make(Params.empty.with(RetryPolicyParam, policy), terminal), (err: unknown) => (err as MeshError).code === 'INVALID_OPTIONS');
  }
});

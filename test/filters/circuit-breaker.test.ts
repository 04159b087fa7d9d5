import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { httpEndpoint } from '../../src/client/http-endpoint.js';
import type { HttpService } from '../../src/client/default-stack.js';
import type { MeshResponse } from '../../src/http/http-types.js';
import { ManualClock } from '../../src/core/clock.js';
import { ClockParam, CountersParam, ServiceName } from '../../src/core/core-params.js';
import { Counters } from '../../src/core/counters.js';
import { MeshError } from '../../src/core/errors.js';
import { Params } from '../../src/core/params.js';
import type { CircuitBreakerPolicy } from '../../src/core/policy.js';
import { newCallContext, type CallContext } from '../../src/core/service.js';
import { circuitBreakerModule, type CircuitBreakerService } from '../../src/filters/circuit-breaker.js';
import { CircuitBreakerPolicyParam } from '../../src/policy/policy-params.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function backend(status = 200): Promise<{ b: TestBackend; endpoint: HttpService }> {
  const b = await startBackend('breaker-backend', { status });
  const endpoint = httpEndpoint({ host: '127.0.0.1', port: b.port });
  // The breaker's close() closes the endpoint; the backend stops after it.
  cleanups.push(() => b.stop());
  return { b, endpoint };
}

function breaker(terminal: HttpService, policy: CircuitBreakerPolicy = {}) {
  const clock = new ManualClock(1_000_000);
  const counters = new Counters();
  const params = Params.empty
    .with(ClockParam, clock)
    .with(CountersParam, counters)
    .with(ServiceName, 'reviews')
    .with(CircuitBreakerPolicyParam, policy);
  const service = circuitBreakerModule.make(params, terminal) as CircuitBreakerService;
  cleanups.push(() => service.close());
  return { service, clock, counters };
}

const ctx = (signal?: AbortSignal): CallContext => newCallContext('reviews', signal);

async function status(service: HttpService): Promise<number> {
  const res = await service.call({ method: 'GET', path: '/' }, ctx());
  await res.body.dump();
  return res.statusCode;
}

const isCircuitOpen = (err: unknown) => err instanceof MeshError && err.code === 'CIRCUIT_OPEN';

/** A terminal whose calls the test settles by hand. */
function manualTerminal() {
  const pending: { resolve: (r: MeshResponse) => void; reject: (e: unknown) => void }[] = [];
  const terminal: HttpService = {
    call: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
    close: async () => {},
  };
  return { terminal, pending };
}

const fakeResponse = (statusCode: number) => ({ statusCode, headers: {}, body: { dump: async () => {} } }) as unknown as MeshResponse;

test('volume threshold: failures below it never open the circuit (default 20)', async () => {
  const { b, endpoint } = await backend(503);
  const { service, counters } = breaker(endpoint);
  assert.equal(await status(service), 503, 'the failure response still reaches the caller');
  assert.equal(service.state(), 'closed', 'one failure does not open it');
  for (let i = 0; i < 18; i++) assert.equal(await status(service), 503);
  assert.equal(service.state(), 'closed', '19 calls are still under the volume threshold');
  assert.equal(await status(service), 503);
  assert.equal(service.state(), 'open', 'the 20th failing call opens it');
  assert.equal(b.hits, 20);
  assert.equal(counters.get('breaker_open_total'), 1);
});

test('while open it fails fast with CIRCUIT_OPEN naming the service and the probe time', async () => {
  const { b, endpoint } = await backend(503);
  const { service, counters, clock } = breaker(endpoint, { volumeThreshold: 4, resetTimeoutMs: 5_000 });
  for (let i = 0; i < 4; i++) await status(service);
  assert.equal(service.state(), 'open');
  assert.equal(service.probeAt(), clock.now() + 5_000);
  clock.advance(1_000);
  await assert.rejects(service.call({ method: 'GET', path: '/' }, ctx()), (err: unknown) => {
    assert.ok(isCircuitOpen(err));
    assert.equal((err as MeshError).service, 'reviews');
    assert.match((err as MeshError).message, /service "reviews"/);
    assert.match((err as MeshError).message, /probe request through in 4000 ms/);
    return true;
  });
  assert.equal(b.hits, 4, 'nothing reached the backend');
  assert.equal(counters.get('breaker_rejected_total'), 1);
});

test('after resetTimeout one probe goes through; success closes the circuit', async () => {
  const { b, endpoint } = await backend(503);
  const { service, clock } = breaker(endpoint, { volumeThreshold: 4, resetTimeoutMs: 10_000 });
  for (let i = 0; i < 4; i++) await status(service);
  clock.advance(9_999);
  await assert.rejects(status(service), isCircuitOpen);
  assert.equal(service.state(), 'open');
  clock.advance(1);
  assert.equal(service.state(), 'half-open');
  b.behaviour.status = 200;
  assert.equal(await status(service), 200);
  assert.equal(service.state(), 'closed');
  assert.equal(service.probeAt(), undefined);
  assert.equal(await status(service), 200);
  assert.equal(b.hits, 6);
});

test('a failed probe reopens the circuit for another resetTimeout', async () => {
  const { b, endpoint } = await backend(503);
  const { service, clock, counters } = breaker(endpoint, { volumeThreshold: 4, resetTimeoutMs: 10_000 });
  for (let i = 0; i < 4; i++) await status(service);
  clock.advance(10_000);
  assert.equal(await status(service), 503, 'the probe\'s failure response is returned to its caller');
  assert.equal(service.state(), 'open');
  assert.equal(service.probeAt(), clock.now() + 10_000);
  assert.equal(counters.get('breaker_open_total'), 2);
  await assert.rejects(status(service), isCircuitOpen);
  assert.equal(b.hits, 5);
});

test('half-open lets exactly one probe through at a time', async () => {
  const { terminal, pending } = manualTerminal();
  const { service, clock } = breaker(terminal, { volumeThreshold: 2 });
  for (let i = 0; i < 2; i++) {
    const call = service.call({ method: 'GET', path: '/' }, ctx());
    pending.shift()!.reject(new MeshError('ENDPOINT_FAILED', 'boom'));
    await assert.rejects(call, /boom/);
  }
  assert.equal(service.state(), 'open');
  clock.advance(10_000);
  const probe = service.call({ method: 'GET', path: '/' }, ctx());
  assert.equal(pending.length, 1);
  await assert.rejects(service.call({ method: 'GET', path: '/' }, ctx()), (err: unknown) => isCircuitOpen(err) && /probe request is in flight/.test((err as Error).message));
  assert.equal(pending.length, 1, 'the second caller did not reach the service');
  pending.shift()!.resolve(fakeResponse(200));
  assert.equal((await probe).statusCode, 200);
  assert.equal(service.state(), 'closed');
});

test('the error threshold is a percentage of the window: 50 % does not open, more does', async () => {
  const { terminal, pending } = manualTerminal();
  const { service } = breaker(terminal, { volumeThreshold: 4, errorThresholdPercentage: 50 });
  const outcome = async (ok: boolean) => {
    const call = service.call({ method: 'GET', path: '/' }, ctx());
    pending.shift()!.resolve(fakeResponse(ok ? 200 : 500));
    return (await call).statusCode;
  };
  assert.equal(await outcome(true), 200);
  assert.equal(await outcome(false), 500);
  assert.equal(await outcome(true), 200);
  assert.equal(await outcome(false), 500);
  assert.equal(service.state(), 'closed', '2 of 4 is 50 %, not more');
  assert.equal(await outcome(false), 500);
  assert.equal(service.state(), 'open', '3 of 5 is 60 %');
});

test('the rolling window forgets old failures (driven by the injected clock)', async () => {
  const { b, endpoint } = await backend(503);
  const { service, clock } = breaker(endpoint, { volumeThreshold: 4, rollingWindowMs: 10_000 });
  for (let i = 0; i < 3; i++) await status(service);
  clock.advance(10_000);
  await status(service);
  assert.equal(service.state(), 'closed', 'the first three failures left the window');
  for (let i = 0; i < 3; i++) await status(service);
  assert.equal(service.state(), 'open');
  assert.equal(b.hits, 7);
});

test('calls the caller aborted do not count, neither as failures nor as volume', async () => {
  let failing = false;
  const terminal: HttpService = {
    call: (_req, c) =>
      failing
        ? Promise.reject(new MeshError('ENDPOINT_FAILED', 'boom'))
        : new Promise((_resolve, reject) => c.signal!.addEventListener('abort', () => reject(c.signal!.reason), { once: true })),
    close: async () => {},
  };
  const { service } = breaker(terminal, { volumeThreshold: 4 });
  for (let i = 0; i < 10; i++) {
    const controller = new AbortController();
    const call = service.call({ method: 'GET', path: '/' }, ctx(controller.signal));
    controller.abort(new Error('caller gave up'));
    await assert.rejects(call, /caller gave up/, 'the caller gets its own abort reason back');
  }
  assert.equal(service.state(), 'closed');
  // Had the aborts counted as successes, 4 failures in 14 calls would be far under 50 %.
  failing = true;
  for (let i = 0; i < 4; i++) await assert.rejects(service.call({ method: 'GET', path: '/' }, ctx()), /boom/);
  assert.equal(service.state(), 'open', '4 of 4 counted calls failed');
});

test('a call cut off by a mesh deadline (abort reason TIMEOUT) counts as a failure', async () => {
  const terminal: HttpService = {
    call: (_req, c) => new Promise((_resolve, reject) => c.signal!.addEventListener('abort', () => reject(c.signal!.reason), { once: true })),
    close: async () => {},
  };
  const { service } = breaker(terminal, { volumeThreshold: 4 });
  for (let i = 0; i < 4; i++) {
    const controller = new AbortController();
    const call = service.call({ method: 'GET', path: '/' }, ctx(controller.signal));
    controller.abort(new MeshError('TIMEOUT', 'deadline exceeded'));
    await assert.rejects(call, /deadline exceeded/);
  }
  assert.equal(service.state(), 'open');
});

test('thrown errors count as failures', async () => {
  let calls = 0;
  const terminal: HttpService = {
    call: async () => {
      calls++;
      throw new MeshError('CONNECT_FAILED', 'refused');
    },
    close: async () => {},
  };
  const { service } = breaker(terminal, { volumeThreshold: 4 });
  for (let i = 0; i < 4; i++) await assert.rejects(service.call({ method: 'GET', path: '/' }, ctx()), /refused/);
  assert.equal(service.state(), 'open');
  await assert.rejects(service.call({ method: 'GET', path: '/' }, ctx()), isCircuitOpen);
  assert.equal(calls, 4);
});

test('a successful probe starts a fresh window: one later failure does not reopen it', async () => {
  const { b, endpoint } = await backend(503);
  const { service, clock } = breaker(endpoint, { volumeThreshold: 4 });
  for (let i = 0; i < 4; i++) await status(service);
  clock.advance(10_000);
  b.behaviour.status = 200;
  assert.equal(await status(service), 200);
  b.behaviour.status = 503;
  assert.equal(await status(service), 503);
  assert.equal(service.state(), 'closed');
});

test('route response classes decide what a failure is', async () => {
  const { endpoint } = await backend(429);
  const { service } = breaker(endpoint, { volumeThreshold: 2 });
  const routed = async () => {
    const c = ctx();
    c.routePolicy = { name: 'r', condition: {}, responseClasses: [{ condition: { status: { min: 429, max: 429 } }, isFailure: true }] };
    const res = await service.call({ method: 'GET', path: '/' }, c);
    await res.body.dump();
    return res.statusCode;
  };
  assert.equal(await status(service), 429);
  assert.equal(await status(service), 429);
  assert.equal(service.state(), 'closed', 'a 429 is a success by default');
  assert.equal(await routed(), 429);
  assert.equal(await routed(), 429);
  assert.equal(service.state(), 'closed', '2 failures of 4 calls is not over 50 %');
  assert.equal(await routed(), 429);
  assert.equal(service.state(), 'open', 'the route made 429 a failure: 3 of 5');
});

test('circuitBreaker: false removes the breaker; close() shuts it down and closes next', async () => {
  let closed = false;
  const terminal: HttpService = { call: async () => fakeResponse(200), close: async () => { closed = true; } };
  assert.equal(circuitBreakerModule.make(Params.empty.with(CircuitBreakerPolicyParam, false), terminal), terminal);
  const service = circuitBreakerModule.make(Params.empty.with(ServiceName, 'reviews'), terminal);
  assert.equal((await service.call({ method: 'GET', path: '/' }, ctx())).statusCode, 200);
  await service.close();
  assert.equal(closed, true);
  await assert.rejects(service.call({ method: 'GET', path: '/' }, ctx()), (err: unknown) => (err as MeshError).code === 'CLIENT_CLOSED');
});

test('invalid settings fail when the stack is built', () => {
  const terminal: HttpService = { call: async () => fakeResponse(200), close: async () => {} };
  for (const policy of [{ errorThresholdPercentage: 150 }, { volumeThreshold: -1 }, { resetTimeoutMs: -1 }, { rollingWindowMs: 0 }]) {
    assert.throws(() => circuitBreakerModule.make(Params.empty.with(CircuitBreakerPolicyParam, policy), terminal), (err: unknown) => (err as MeshError).code === 'INVALID_OPTIONS');
  }
});

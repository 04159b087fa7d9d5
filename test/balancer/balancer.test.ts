/**
 * The Balancer's algorithm, driven deterministically: endpoint services here are in-memory and
 * answer after a latency measured on a ManualClock, so the test controls time exactly. (The same
 * behaviour against real HTTP servers is in test/client/balancing.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, seededRandom } from '../../src/core/clock.js';
import { isMeshError } from '../../src/core/errors.js';
import { newCallContext, type Service } from '../../src/core/service.js';
import { Watchable } from '../../src/core/watchable.js';
import { Balancer } from '../../src/balancer/balancer.js';
import type { LoadFactory } from '../../src/balancer/endpoint-load.js';
import { LeastRequestLoad } from '../../src/balancer/least-request-load.js';
import { OutlierDetector } from '../../src/balancer/outlier-detector.js';
import { p2cPicker } from '../../src/balancer/p2c-picker.js';
import { PeakEwmaLoad } from '../../src/balancer/peak-ewma-load.js';
import type { Picker } from '../../src/balancer/picker.js';
import { roundRobinPicker } from '../../src/balancer/round-robin-picker.js';
import type { EndpointAddress } from '../../src/discovery/endpoint-address.js';

interface Fake {
  latencyMs: number;
  status: number;
  served: number;
  closed: boolean;
}

function setup(opts: { picker: Picker; newLoad: LoadFactory; latencies?: Record<number, number>; consecutiveFailures?: number; maxEjectedPercent?: number }) {
  const clock = new ManualClock();
  const fakes = new Map<number, Fake>();
  const source = new Watchable<readonly EndpointAddress[] | undefined>(undefined);
  const balancer = new Balancer<string, number>(source, {
    service: 'svc',
    clock,
    picker: opts.picker,
    newLoad: opts.newLoad,
    outlierDetector: new OutlierDetector({ consecutiveFailures: opts.consecutiveFailures ?? 5, baseEjectionMs: 1_000, maxEjectedPercent: opts.maxEjectedPercent ?? 50 }, clock),
    makeEndpoint: (address): Service<string, number> => {
      const fake: Fake = { latencyMs: opts.latencies?.[address.port] ?? 1, status: 200, served: 0, closed: false };
      fakes.set(address.port, fake);
      return {
        call: () =>
          new Promise((resolve) => {
            fake.served++;
            clock.setTimer(() => resolve(fake.status), fake.latencyMs);
          }),
        close: async () => {
          fake.closed = true;
        },
      };
    },
    isFailure: (status) => status >= 500,
    discoveryTimeoutMs: 1_000,
    discoveryDescription: 'test',
  });
  return { clock, fakes, source, balancer };
}

const settle = () => new Promise((r) => setImmediate(r));
const ports = (...ps: number[]) => ps.map((port) => ({ host: '10.0.0.1', port }));

/** Offers one request per simulated millisecond for `ms` and returns what each endpoint served. */
async function offerLoad(env: ReturnType<typeof setup>, ms: number, drainMs = 1_000): Promise<Record<number, number>> {
  const pending: Promise<number>[] = [];
  for (let t = 0; t < ms; t++) {
    pending.push(env.balancer.call('req', newCallContext('svc')));
    env.clock.advance(1);
    await settle();
  }
  env.clock.advance(drainMs);
  await Promise.all(pending);
  return Object.fromEntries([...env.fakes].map(([port, f]) => [port, f.served]));
}

test('P2C peak-EWMA sends a 10x slower endpoint far less than round robin does', async () => {
  const latencies = { 1: 5, 2: 5, 3: 50 };
  const rr = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad(), latencies });
  rr.source.set(ports(1, 2, 3));
  const rrServed = await offerLoad(rr, 3_000);
  const ewma = setup({ picker: p2cPicker(seededRandom(1)), newLoad: (now) => new PeakEwmaLoad(now), latencies });
  ewma.source.set(ports(1, 2, 3));
  const ewmaServed = await offerLoad(ewma, 3_000);
  assert.equal(rrServed[3], 1_000, 'round robin gives the slow endpoint exactly a third');
  assert.ok(ewmaServed[3]! < rrServed[3]! / 4, `peak-EWMA slow share ${ewmaServed[3]} vs round robin ${rrServed[3]}`);
  assert.ok(ewmaServed[1]! > 1_000 && ewmaServed[2]! > 1_000, `fast endpoints take the rest: ${JSON.stringify(ewmaServed)}`);
});

test('least-request steers around an endpoint with many requests pending', async () => {
  const env = setup({ picker: p2cPicker(seededRandom(3)), newLoad: () => new LeastRequestLoad(), latencies: { 1: 2, 2: 2, 3: 200 } });
  env.source.set(ports(1, 2, 3));
  const served = await offerLoad(env, 2_000);
  assert.ok(served[3]! < 150, `the stuck endpoint got ${served[3]} of 2000`);
});

test('endpoint set updates add endpoints and close removed ones', async () => {
  const env = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad() });
  env.source.set(ports(1, 2));
  assert.deepEqual(env.balancer.endpoints().map((e) => e.key), ['10.0.0.1:1', '10.0.0.1:2']);
  env.source.set(ports(2, 3));
  assert.deepEqual(env.balancer.endpoints().map((e) => e.key), ['10.0.0.1:2', '10.0.0.1:3']);
  await settle();
  assert.equal(env.fakes.get(1)!.closed, true);
  assert.equal(env.fakes.get(2)!.closed, false);
  const served = await offerLoad(env, 10);
  assert.equal(served[1], 0);
  await env.balancer.close();
  assert.ok(env.fakes.get(2)!.closed && env.fakes.get(3)!.closed);
});

test('a request before the first set waits for it, and times out with DISCOVERY_TIMEOUT', async () => {
  const env = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad() });
  const waiting = env.balancer.call('a', newCallContext('svc'));
  env.clock.advance(500);
  env.source.set(ports(1));
  await settle();
  env.clock.advance(5);
  assert.equal(await waiting, 200);

  const late = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad() });
  const failing = late.balancer.call('a', newCallContext('svc'));
  late.clock.advance(1_000);
  await assert.rejects(failing, (err: unknown) => isMeshError(err, 'DISCOVERY_TIMEOUT') && /within 1000 ms \(discovery: test\)/.test(err.message));
});

test('an empty set fails with NO_ENDPOINTS', async () => {
  const env = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad() });
  env.source.set([]);
  await assert.rejects(env.balancer.call('a', newCallContext('svc')), (err: unknown) => isMeshError(err, 'NO_ENDPOINTS') && /service "svc" has no endpoints/.test(err.message));
});

test('failing endpoints are ejected, get no traffic while out, and come back after the ejection time', async () => {
  const env = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad(), consecutiveFailures: 2 });
  env.source.set(ports(1, 2));
  env.fakes.get(1)!.status = 503;
  await offerLoad(env, 6, 5);
  assert.ok(env.balancer.isEjected('10.0.0.1:1'));
  const before = env.fakes.get(1)!.served;
  await offerLoad(env, 20, 5);
  assert.equal(env.fakes.get(1)!.served, before, 'no traffic while ejected');

  // The other one fails too, but at most 50% may be out: it stays in and traffic keeps flowing.
  env.fakes.get(2)!.status = 503;
  await offerLoad(env, 10, 5);
  assert.ok(!env.balancer.isEjected('10.0.0.1:2'));

  env.fakes.get(1)!.status = 200;
  env.clock.advance(1_000);
  const served = await offerLoad(env, 10, 5);
  assert.ok(served[1]! > before, 'readmitted after the ejection time');
});

test('with every endpoint ejected the balancer fails open and uses them all', async () => {
  const env = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad(), consecutiveFailures: 1, maxEjectedPercent: 100 });
  env.source.set(ports(1, 2));
  env.fakes.get(1)!.status = 503;
  env.fakes.get(2)!.status = 503;
  await offerLoad(env, 4, 5);
  assert.ok(env.balancer.isEjected('10.0.0.1:1') && env.balancer.isEjected('10.0.0.1:2'));
  const before = env.fakes.get(1)!.served + env.fakes.get(2)!.served;
  const served = await offerLoad(env, 10, 5);
  assert.equal(served[1]! + served[2]! - before, 10, 'every request was still sent');
});

test('reading the endpoints, as client.endpoints() does, never readmits an ejected one: the next pick does', async () => {
  const env = setup({ picker: roundRobinPicker(), newLoad: () => new LeastRequestLoad(), consecutiveFailures: 2 });
  env.source.set(ports(1, 2));
  env.fakes.get(1)!.status = 503;
  await offerLoad(env, 6, 5);
  const outlier = () => env.balancer.endpoints().find((e) => e.key === '10.0.0.1:1')!.outlier;
  assert.ok(env.balancer.isEjected('10.0.0.1:1'));
  const ejected = { ...outlier() };

  env.clock.advance(1_000);
  for (let i = 0; i < 100; i++) {
    assert.equal(env.balancer.isEjected('10.0.0.1:1'), false, 'its ejection time is over');
    env.balancer.endpoints();
  }
  assert.deepEqual(outlier(), ejected, 'still waiting for a pick to readmit it, not on probation');

  env.fakes.get(1)!.status = 200;
  const before = env.fakes.get(1)!.served;
  await offerLoad(env, 4, 5);
  assert.ok(env.fakes.get(1)!.served > before, 'readmitted by the pick');
  assert.equal(outlier().ejectedUntil, 0);
});

test("a call that names an endpoint to avoid (a hedge's backup) gets another one while there is another", async () => {
  const env = setup({ picker: { pick: (candidates) => candidates[0]! }, newLoad: () => new LeastRequestLoad() });
  env.source.set(ports(1, 2));
  const first = newCallContext('svc');
  const pending = [env.balancer.call('a', first)];
  assert.equal(first.endpoint, '10.0.0.1:1', 'this picker always takes the first candidate');
  const backup = newCallContext('svc');
  backup.avoidEndpoint = first.endpoint;
  pending.push(env.balancer.call('b', backup));
  assert.equal(backup.endpoint, '10.0.0.1:2');
  env.source.set(ports(1));
  const only = newCallContext('svc');
  only.avoidEndpoint = '10.0.0.1:1';
  pending.push(env.balancer.call('c', only));
  assert.equal(only.endpoint, '10.0.0.1:1', 'with no other endpoint the one to avoid is used');
  env.clock.advance(1);
  await Promise.all(pending);
});

/**
 * The filters together, in the default stack, through meshClient against real HTTP servers.
 * Each filter's own behaviour is tested in test/filters/; this file checks they compose.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { isMeshError, meshClient, seededRandom } from '../../src/index.js';
import { withClient } from '../helpers/with-client.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';

let primary: TestBackend;
let canary: TestBackend;
before(async () => {
  primary = await startBackend('primary');
  canary = await startBackend('canary');
});
after(async () => {
  await Promise.all([primary?.stop(), canary?.stop()]);
});

function fresh(): void {
  for (const b of [primary, canary]) {
    b.hits = 0;
    b.bodies.length = 0;
    b.behaviour = {};
  }
}


test('the default stack lists its modules in request-path order', () => {
  const client = meshClient('reviews', { endpoints: [primary.address] });
  assert.deepEqual(client.stack.roles(), [
    'route',
    'trace',
    'metrics',
    'concurrency-limit',
    'adaptive-concurrency',
    'rate-limit',
    'total-timeout',
    'fault',
    'mirror',
    'retry',
    'hedge',
    'split',
    'circuit-breaker',
    'per-try-timeout',
    'attempt-trace',
  ]);
  return client.close();
});

test('retries recover from a flaky backend, and a POST body is replayed byte-exact', async () => {
  fresh();
  primary.behaviour.script = [503, 503];
  await withClient(
    meshClient('reviews', {
      endpoints: [primary.address],
      outlierDetection: false,
      retries: { backoff: { base: 1, max: 2 } },
      routes: [{ name: 'POST /reviews', condition: { method: 'POST', pathRegex: '/reviews' }, isRetryable: true }],
    }),
    async (reviews) => {
      const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
      const res = await reviews.request({ method: 'POST', path: '/reviews', body: Readable.from([payload.subarray(0, 1000), payload.subarray(1000)]) });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.equal(primary.hits, 3);
      assert.equal(primary.bodies.length, 3);
      for (const body of primary.bodies) assert.ok(body.equals(payload), 'every attempt carried the same bytes');
      assert.equal(reviews.counters().retries_total, 2);
    },
  );
});

test('under total failure the budget caps upstream attempts near retryRatio plus the floor', async () => {
  fresh();
  primary.behaviour.status = 503;
  await withClient(
    meshClient('reviews', {
      endpoints: [primary.address],
      outlierDetection: false,
      circuitBreaker: false,
      retries: { budget: { retryRatio: 0.2, minRetriesPerSecond: 1, ttl: '10s' }, backoff: { base: 1, max: 1 } },
    }),
    async (reviews) => {
      for (let i = 0; i < 100; i++) {
        const res = await reviews.request({ path: '/always-failing' });
        assert.equal(res.statusCode, 503, 'the last failure is returned, not an error');
        await res.body.dump();
      }
      // 100 requests deposit 20 retries; the floor adds 1/s over the 10 s ttl.
      assert.ok(primary.hits >= 120 && primary.hits <= 130, `upstream attempts ${primary.hits} for 100 requests`);
      assert.ok(reviews.counters().retry_budget_exhausted_total! > 0);
    },
  );
});

test('a header-matched fault applies only to matching requests and is not retried', async () => {
  fresh();
  await withClient(
    meshClient('ratings', {
      endpoints: [primary.address],
      faults: [{ match: { headers: { 'end-user': 'jason' } }, abort: { percent: 100, httpStatus: 500 } }],
      random: seededRandom(1),
    }),
    async (ratings) => {
      const jason = await ratings.request({ path: '/ratings/0', headers: { 'end-user': 'jason' } });
      assert.equal(jason.statusCode, 500);
      await jason.body.dump();
      assert.equal(primary.hits, 0, 'the injected abort never reached the backend, nor was it retried');
      const other = await ratings.request({ path: '/ratings/0', headers: { 'end-user': 'alice' } });
      assert.equal(other.statusCode, 200);
      await other.body.dump();
      assert.equal(primary.hits, 1);
    },
  );
});

test('a 90/10 split sends about a tenth of the traffic to the canary destination', async () => {
  fresh();
  const { createMesh } = await import('../../src/index.js');
  const mesh = createMesh({
    random: seededRandom(42),
    services: {
      reviews: { endpoints: [primary.address], split: [{ service: 'reviews', weight: 90 }, { service: 'reviews-canary', weight: 10 }] },
      'reviews-canary': { endpoints: [canary.address] },
    },
  });
  try {
    const reviews = mesh.client('reviews');
    for (let i = 0; i < 500; i++) await (await reviews.request({ path: '/' })).body.dump();
    const share = canary.hits / 500;
    assert.ok(Math.abs(share - 0.1) < 0.04, `canary share ${share}`);
    assert.equal(primary.hits + canary.hits, 500);
  } finally {
    await mesh.close();
  }
});

test('per-try timeout then total timeout give their own error codes', async () => {
  fresh();
  primary.behaviour.delayMs = 300;
  await withClient(meshClient('slow', { endpoints: [primary.address], perTryTimeout: '50ms', retries: false }), async (slow) => {
    await assert.rejects(slow.request({ path: '/' }), (err: unknown) => isMeshError(err, 'PER_TRY_TIMEOUT'));
  });
  await withClient(meshClient('slow', { endpoints: [primary.address], timeout: '60ms' }), async (slow) => {
    await assert.rejects(slow.request({ path: '/' }), (err: unknown) => isMeshError(err, 'TIMEOUT') && /slow/.test(err.message));
  });
});

test('a deadline propagates across hops: the client sends it, and the next hop honours it', async () => {
  fresh();
  primary.behaviour.delayMs = 300;
  // A middle service that calls the primary through its own meshClient (generous 10 s timeout),
  // forwarding the deadline header it received, as an app forwards tracing headers.
  const downstream = meshClient('primary', { endpoints: [primary.address], timeout: '10s', retries: false });
  const seenDeadlines: number[] = [];
  const middle = createServer(async (req, res) => {
    const header = req.headers['x-meshwork-deadline-ms'];
    seenDeadlines.push(Number(header));
    try {
      const r = await downstream.request({ path: '/', headers: header ? { 'x-meshwork-deadline-ms': String(header) } : {} });
      res.writeHead(r.statusCode);
      res.end(await r.body.text());
    } catch (err) {
      res.writeHead(504);
      res.end((err as Error).message);
    }
  });
  await new Promise<void>((r) => middle.listen(0, '127.0.0.1', r));
  const middleAddress = `127.0.0.1:${(middle.address() as AddressInfo).port}`;
  const front = meshClient('middle', { endpoints: [middleAddress], timeout: '2s', retries: false });
  try {
    const ok = await front.request({ path: '/' });
    assert.equal(ok.statusCode, 200, 'within the budget the call succeeds');
    await ok.body.dump();
    assert.ok(seenDeadlines[0]! > 1_000 && seenDeadlines[0]! <= 2_000, `the client propagated its remaining budget: ${seenDeadlines[0]} ms`);

    // A caller with only 100 ms left: the middle hop's own 10 s timeout is cut to what is left.
    const { request } = await import('undici');
    const res = await request(`http://${middleAddress}/`, { headers: { 'x-meshwork-deadline-ms': '100' } });
    assert.equal(res.statusCode, 504);
    assert.match(await res.body.text(), /service "primary": timed out after 100 ms, the propagated deadline/);
  } finally {
    await front.close();
    await downstream.close();
    middle.closeAllConnections();
    await new Promise((r) => middle.close(r));
  }
});

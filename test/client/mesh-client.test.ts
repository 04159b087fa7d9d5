import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createMesh, defaultClientStack, filterModule, isMeshError, meshClient, MeshError } from '../../src/index.js';
import { withClient } from '../helpers/with-client.js';
import { startBackends, type TestBackend } from '../helpers/http-backend.js';

let backends: TestBackend[];
before(async () => {
  backends = await startBackends(2);
});
after(async () => {
  await Promise.all((backends ?? []).map((b) => b.stop()));
});


describe('meshClient.request', () => {
  test('returns an undici-like response from one of the endpoints', async () => {
    await withClient(meshClient('reviews', { endpoints: backends.map((b) => b.address) }), async (reviews) => {
      const res = await reviews.request({ method: 'GET', path: '/reviews/1?x=y', headers: { 'x-test': 'yes' } });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['x-backend']), /^b[12]$/);
      const body = (await res.body.json()) as { path: string; headers: Record<string, string> };
      assert.equal(body.path, '/reviews/1?x=y');
      assert.equal(body.headers['x-test'], 'yes');
    });
  });

  test('defaults the method to GET and sends request bodies', async () => {
    await withClient(meshClient('reviews', { endpoints: [backends[0]!.address] }), async (reviews) => {
      const get = await reviews.request({ path: '/' });
      assert.equal(((await get.body.json()) as { method: string }).method, 'GET');
      const before = backends[0]!.bodies.length;
      const post = await reviews.request({ method: 'POST', path: '/submit', body: 'hello mesh' });
      await post.body.dump();
      assert.equal(backends[0]!.bodies[before]!.toString(), 'hello mesh');
    });
  });

  test('a caller abort stops the request', async () => {
    backends[0]!.behaviour = { delayMs: 2_000 };
    try {
      await withClient(meshClient('slow', { endpoints: [backends[0]!.address] }), async (slow) => {
        const controller = new AbortController();
        const pending = slow.request({ path: '/', signal: controller.signal });
        setTimeout(() => controller.abort(new Error('caller gave up')), 20);
        await assert.rejects(pending, /caller gave up/);
      });
    } finally {
      backends[0]!.behaviour = {};
    }
  });

  test('a closed client refuses new requests with CLIENT_CLOSED', async () => {
    const reviews = meshClient('reviews', { endpoints: [backends[0]!.address] });
    await reviews.close();
    await assert.rejects(reviews.request({ path: '/' }), (err: unknown) => isMeshError(err, 'CLIENT_CLOSED'));
  });

  test('a malformed request is an INVALID_REQUEST error and does not count against the endpoint', async () => {
    await withClient(meshClient('reviews', { endpoints: [backends[0]!.address], outlierDetection: { consecutiveFailures: 1 } }), async (reviews) => {
      for (const bad of [{ path: 'no-leading-slash' }, { path: '/', headers: { 'bad header': 'x' } }]) {
        await assert.rejects(reviews.request(bad), (err: unknown) => isMeshError(err, 'INVALID_REQUEST') && /the request is malformed and was not sent/.test(err.message));
      }
      assert.equal(reviews.endpoints()[0]!.ejected, false);
      const ok = await reviews.request({ path: '/' });
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
    });
  });

  test('a refused connection is a CONNECT_FAILED MeshError naming service and endpoint', async () => {
    await withClient(meshClient('gone', { endpoints: ['127.0.0.1:1'], outlierDetection: false }), async (gone) => {
      await assert.rejects(gone.request({ path: '/' }), (err: unknown) => {
        assert.ok(err instanceof MeshError);
        assert.equal(err.code, 'CONNECT_FAILED');
        assert.equal(err.service, 'gone');
        assert.equal(err.endpoint, '127.0.0.1:1');
        assert.match(err.message, /could not connect to 127\.0\.0\.1:1/);
        return true;
      });
    });
  });

  test('users add their own filters to the stack by role', async () => {
    const client = meshClient('reviews', {
      endpoints: [backends[0]!.address],
      stack: (s) =>
        s.prepend(
          filterModule('add-header', 'adds x-added', (req, ctx, next) =>
            next.call({ ...req, headers: { ...(req.headers as Record<string, string>), 'x-added': ctx.service } }, ctx),
          ),
        ),
    });
    await withClient(client, async (c) => {
      assert.deepEqual(c.stack.roles(), ['add-header', ...defaultClientStack().roles()]);
      const res = await c.request({ path: '/' });
      const body = (await res.body.json()) as { headers: Record<string, string> };
      assert.equal(body.headers['x-added'], 'reviews');
    });
  });
});

describe('meshClient.fetch and the dispatcher', () => {
  test('fetch returns a WHATWG Response', async () => {
    await withClient(meshClient('reviews', { endpoints: [backends[1]!.address] }), async (reviews) => {
      const res = await reviews.fetch('/reviews/2');
      assert.equal(res.status, 200);
      assert.equal(res.statusText, 'OK');
      assert.equal(res.headers.get('x-backend'), 'b2');
      assert.equal(((await res.json()) as { path: string }).path, '/reviews/2');
    });
  });

  test("undici's fetch uses the client's dispatcher", async () => {
    const { fetch } = await import('undici');
    await withClient(meshClient('reviews', { endpoints: [backends[1]!.address] }), async (reviews) => {
      const res = await fetch('http://reviews/reviews/3', { dispatcher: reviews.dispatcher, method: 'POST', body: 'via-dispatcher' });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { path: string; method: string };
      assert.deepEqual([body.path, body.method], ['/reviews/3', 'POST']);
    });
  });

  test('setGlobalDispatcher(mesh.dispatcher) meshes the global fetch(); other hosts pass through', async () => {
    const { getGlobalDispatcher, setGlobalDispatcher } = await import('undici');
    const previous = getGlobalDispatcher();
    const mesh = createMesh({ services: { reviews: { endpoints: [backends[0]!.address] }, ratings: { endpoints: [backends[1]!.address] } } });
    setGlobalDispatcher(mesh.dispatcher);
    try {
      const reviews = await fetch('http://reviews/r');
      assert.equal(reviews.headers.get('x-backend'), 'b1');
      await reviews.arrayBuffer();
      const ratings = await fetch('http://RATINGS:8080/r');
      assert.equal(ratings.headers.get('x-backend'), 'b2');
      await ratings.arrayBuffer();
      const direct = await fetch(`http://${backends[1]!.address}/direct`);
      assert.equal(((await direct.json()) as { path: string }).path, '/direct');
    } finally {
      setGlobalDispatcher(previous);
      await mesh.close();
    }
  });

  test("unknownHosts: 'refuse' fails requests to hosts the mesh does not know", async () => {
    const { fetch } = await import('undici');
    const mesh = createMesh({ services: { reviews: { endpoints: [backends[0]!.address] } }, unknownHosts: 'refuse' });
    try {
      await assert.rejects(fetch(`http://${backends[1]!.address}/`, { dispatcher: mesh.dispatcher }), (err: unknown) => {
        const cause = (err as { cause?: unknown }).cause;
        return isMeshError(cause, 'UNKNOWN_SERVICE') && /no mesh service is named "127\.0\.0\.1"/.test(cause.message);
      });
      assert.throws(() => mesh.client('nope'), /the mesh has no service "nope"; it has: reviews/);
    } finally {
      await mesh.close();
    }
  });
});

describe('bad options', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no endpoints', {}, /\(options\): no endpoints: give endpoints: \['127\.0\.0\.1:8080'\] or discovery:/],
    ['both endpoints and discovery', { endpoints: ['127.0.0.1:1'], discovery: 'file:x.json' }, /either "endpoints" or "discovery", not both/],
    ['unknown balancer', { endpoints: ['127.0.0.1:1'], balancer: 'p2c' }, /balancer: expected one of 'p2c-ewma' \| 'p2c-least-request' \| 'round-robin' \| 'random' \| 'ring-hash' \| 'maglev', got "p2c"/],
    ['unknown field', { endpoints: ['127.0.0.1:1'], balancr: 'round-robin' }, /\(options\): unknown field "balancr" \(did you mean "balancer"\?\)/],
    ['unknown nested field', { endpoints: ['127.0.0.1:1'], retries: { budget: { retryRatoi: 0.1 } } }, /retries\.budget: unknown field "retryRatoi" \(did you mean "retryRatio"\?\)/],
    ['bad duration', { endpoints: ['127.0.0.1:1'], timeout: '2 parsecs' }, /timeout: expected a duration such as 250ms, 2s or 1m, got "2 parsecs"/],
    ['bad nested type', { endpoints: ['127.0.0.1:1'], outlierDetection: { consecutiveFailures: 'five' } }, /outlierDetection/],
    ['bad endpoint', { endpoints: ['localhost'] }, /endpoints\[0\]: expected host:port, e\.g\. 127\.0\.0\.1:8080/],
    ['bad port', { endpoints: ['127.0.0.1:70000'] }, /port 70000/],
    ['bad discovery', { discovery: 'consul:reviews' }, /consul:reviews/],
  ];
  for (const [name, options, message] of cases) {
    test(name, () => {
      assert.throws(
        () => meshClient('reviews', options as never),
        (err: unknown) => {
          assert.ok(err instanceof MeshError, `expected MeshError, got ${String(err)}`);
          assert.equal(err.code, 'INVALID_OPTIONS');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  test('bad service name', () => {
    assert.throws(() => meshClient('not a name', { endpoints: ['127.0.0.1:1'] }), /a service name is a DNS-like name/);
  });
});

describe('discovery through the client', () => {
  test('file discovery changes add and remove endpoints live', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-'));
    const file = join(dir, 'eps.json');
    await writeFile(file, JSON.stringify([backends[0]!.address]));
    const client = meshClient('reviews', { discovery: `file:${file}` });
    try {
      const first = await client.request({ path: '/' });
      assert.equal(first.headers['x-backend'], 'b1');
      await first.body.dump();
      await writeFile(file, JSON.stringify([backends[1]!.address]));
      const deadline = Date.now() + 10_000;
      while (client.endpoints().map((e) => e.endpoint).join() !== backends[1]!.address) {
        assert.ok(Date.now() < deadline, `file change not picked up: ${JSON.stringify(client.endpoints())}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      for (let i = 0; i < 5; i++) {
        const res = await client.request({ path: '/' });
        assert.equal(res.headers['x-backend'], 'b2');
        await res.body.dump();
      }
    } finally {
      await client.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a request waits a bounded time for the first set, then fails clearly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-'));
    const client = meshClient('reviews', { discovery: `file:${join(dir, 'missing.json')}`, discoveryTimeout: 150 });
    try {
      await assert.rejects(client.request({ path: '/' }), (err: unknown) => {
        assert.ok(isMeshError(err, 'DISCOVERY_TIMEOUT'));
        assert.match(err.message, /no endpoints were discovered within 150 ms \(discovery: .*missing\.json/);
        return true;
      });
    } finally {
      await client.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('one rule names the service an authority means, for fetch through the mesh as for the sidecar', async () => {
  const mesh = createMesh({ services: { reviews: { endpoints: [backends[0]!.address] } }, unknownHosts: 'refuse' });
  try {
    assert.equal(mesh.serviceFor('reviews.default.svc.cluster.local'), 'reviews');
    assert.equal(mesh.serviceFor('Reviews:9080'), 'reviews');
    assert.equal(mesh.serviceFor('ratings.default.svc'), undefined);
    const { fetch } = await import('undici');
    const res = await fetch('http://reviews.default.svc.cluster.local/kube-name', { dispatcher: mesh.dispatcher });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { path: string }).path, '/kube-name');
  } finally {
    await mesh.close();
  }
});

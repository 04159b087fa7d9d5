/**
 * Which requests are retried, by route (Linkerd ServiceProfile semantics): only routes marked
 * `isRetryable: true`; `retryNonRouted` decides for requests that match no route. A real backend
 * that always answers 503 counts every attempt that reached it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetch } from 'undici';
import { createMesh, meshClient, type MeshClient, type MeshClientOptions } from '../../src/index.js';
import { RETRY_DEFAULTS } from '../../src/core/policy.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { withClient } from '../helpers/with-client.js';

let failing: TestBackend;
let dir: string;
before(async () => {
  failing = await startBackend('books', { status: 503 });
  dir = await mkdtemp(join(tmpdir(), 'meshwork-retry-routes-'));
});
after(async () => {
  await failing.stop();
  await rm(dir, { recursive: true, force: true });
});

const routes: MeshClientOptions['routes'] = [
  { name: 'GET /books.json', condition: { method: 'GET', pathRegex: '/books\\.json' } },
  { name: 'GET /books/{id}.json', condition: { method: 'GET', pathRegex: '/books/[^/]*\\.json' }, isRetryable: true },
  { name: 'DELETE /books/{id}.json', condition: { method: 'DELETE', pathRegex: '/books/[^/]*\\.json' }, isRetryable: false },
];

/** A client whose only endpoint is the failing backend; nothing but the retry filter repeats a request. */
function books(retries: NonNullable<MeshClientOptions['retries']> = {}): MeshClient {
  return meshClient('books', {
    endpoints: [failing.address],
    routes,
    // A 1 ms backoff, and neither the breaker nor ejection may cut the attempts short.
    retries: retries === false ? false : { backoff: { base: 1, max: 1 }, ...retries },
    circuitBreaker: false,
    outlierDetection: false,
  });
}

/** Sends `count` requests and returns how many attempts reached the backend. */
async function attempts(client: MeshClient, method: 'GET' | 'POST' | 'DELETE', path: string, count = 1): Promise<number> {
  const before = failing.hits;
  for (let i = 0; i < count; i++) {
    const res = await client.request({ method, path, ...(method === 'POST' ? { body: 'x' } : {}) });
    assert.equal(res.statusCode, 503);
    await res.body.dump();
  }
  return failing.hits - before;
}

test('a route without isRetryable is never retried: 5 requests, 5 attempts', async () => {
  await withClient(books(), async (client) => {
    assert.equal(await attempts(client, 'GET', '/books.json', 5), 5);
    assert.equal(client.counters().retries_total ?? 0, 0);
  });
});

test('a route with isRetryable: true is retried up to maxAttempts', async () => {
  await withClient(books(), async (client) => {
    assert.equal(await attempts(client, 'GET', '/books/7.json'), RETRY_DEFAULTS.maxAttempts);
    assert.equal(client.counters().retries_total, RETRY_DEFAULTS.maxAttempts - 1);
  });
  await withClient(books({ maxAttempts: 2 }), async (client) => assert.equal(await attempts(client, 'GET', '/books/7.json'), 2));
});

test('a route with isRetryable: false is not retried, idempotent method or not', async () => {
  await withClient(books(), async (client) => assert.equal(await attempts(client, 'DELETE', '/books/7.json'), 1));
});

test('retryNonRouted decides only for requests that match no route', async () => {
  // Default: idempotent methods (RFC 9110 §9.2.2) are retried, others are not.
  await withClient(books(), async (client) => {
    assert.equal(await attempts(client, 'GET', '/authors'), RETRY_DEFAULTS.maxAttempts);
    assert.equal(await attempts(client, 'POST', '/authors'), 1);
  });
  await withClient(books({ retryNonRouted: true }), async (client) => {
    assert.equal(await attempts(client, 'POST', '/authors'), RETRY_DEFAULTS.maxAttempts);
    assert.equal(await attempts(client, 'GET', '/books.json'), 1, 'a matched route without isRetryable stays unretried');
  });
  await withClient(books({ retryNonRouted: false }), async (client) => {
    assert.equal(await attempts(client, 'GET', '/authors'), 1);
    assert.equal(await attempts(client, 'GET', '/books/7.json'), RETRY_DEFAULTS.maxAttempts, 'a retryable route still is');
  });
});

test('a ServiceProfile loaded from YAML retries only its isRetryable routes', async () => {
  const file = join(dir, 'books.yaml');
  await writeFile(
    file,
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    books:
      endpoints: ["${failing.address}"]
      retries: { backoff: { base: 1ms, max: 1ms } }
      circuitBreaker: false
      outlierDetection: false
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: books.default.svc.cluster.local
  namespace: default
spec:
  routes:
  - name: GET /books.json
    condition:
      method: GET
      pathRegex: /books\\.json
  - name: GET /books/{id}.json
    condition:
      method: GET
      pathRegex: /books/[^/]*\\.json
    isRetryable: true
`,
  );
  const mesh = createMesh({ config: file, watch: false });
  try {
    const get = async (path: string, count = 1) => {
      const before = failing.hits;
      for (let i = 0; i < count; i++) {
        const res = await fetch(`http://books${path}`, { dispatcher: mesh.dispatcher });
        assert.equal(res.status, 503);
        await res.arrayBuffer();
      }
      return failing.hits - before;
    };
    assert.equal(await get('/books.json', 5), 5, 'the route without isRetryable: one attempt per request');
    assert.equal(await get('/books/1.json'), RETRY_DEFAULTS.maxAttempts);
  } finally {
    await mesh.close();
  }
});

/**
 * Istio VirtualServices and DestinationRules in a mesh config: what each field becomes, what is
 * refused (with file, line and field), and the mapped policy at work against real servers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMesh } from '../../src/client/create-mesh.js';
import { ClusterProfiles } from '../../src/config/cluster-profiles.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { ManualClock, seededRandom } from '../../src/core/clock.js';
import { startBackend, startBackends, type TestBackend } from '../helpers/http-backend.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MESH = `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  services:
    reviews: { endpoints: ["127.0.0.1:1"] }
    ratings: { endpoints: ["127.0.0.1:2"] }
`;

function problemsOf(text: string): string[] {
  try {
    parseMeshConfig(text, 'istio.yaml');
  } catch (err) {
    return (err as Error).message.split('\n').slice(1).map((line) => line.trim());
  }
  assert.fail('expected the config to be refused');
}

test('VirtualService: matches, destinations, timeout, retries, faults and mirror become the route policy', () => {
  const config = parseMeshConfig(
    `${MESH}---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: { name: reviews-routes, namespace: shop }
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http:
  - name: exact-or-regex
    match:
    - uri: { exact: /reviews/a.b }
      method: { exact: POST }
    - uri: { regex: "/reviews/[0-9]+" }
      headers: { End-User: { prefix: ja }, x-canary: {} }
      withoutHeaders: { x-debug: { exact: "1" } }
    route:
    - destination: { host: ratings }
    timeout: 2s
    retries: { attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure,409" }
    fault:
      delay: { fixedDelay: 1s, percent: 5 }
      abort: { grpcStatus: UNAVAILABLE, percentage: { value: 0.5 } }
    mirror: { host: ratings }
    mirrorPercentage: { value: 12.5 }
  - match: [{ uri: { prefix: /reviews/ } }]
    route:
    - { destination: { host: reviews }, weight: 90 }
    - { destination: { host: search.example.com, port: { number: 8080 } }, weight: 10 }
    retries: { attempts: 0 }
`,
    'istio.yaml',
  );
  const routes = config.services.reviews!.policy.routes!;
  assert.deepEqual(
    routes.map((r) => r.name),
    ['exact-or-regex', 'reviews-routes-1'],
  );
  const [first, second] = routes;
  assert.deepEqual(first!.condition, {
    any: [
      { pathRegex: '\\/reviews\\/a\\.b', method: 'POST' },
      {
        pathRegex: '/reviews/[0-9]+',
        headers: { 'end-user': { prefix: 'ja' }, 'x-canary': { present: true } },
        all: [{ not: { headers: { 'x-debug': { exact: '1' } } } }],
      },
    ],
  });
  assert.deepEqual(first!.split, [{ service: 'ratings', weight: 100 }]);
  assert.equal(first!.timeoutMs, 2000);
  assert.equal(first!.perTryTimeoutMs, 500);
  assert.deepEqual(first!.retry, { maxAttempts: 4, retryOn: ['5xx', 'connect-failure', '409'] });
  // The legacy integer percent is read; a gRPC abort answers HTTP callers with Envoy's mapped status.
  assert.deepEqual(first!.faults, [{ delay: { percent: 5, fixedDelayMs: 1000 }, abort: { percent: 0.5, httpStatus: 503, grpcStatus: 14 } }]);
  assert.deepEqual(first!.mirror, { service: 'ratings', percent: 12.5 });
  assert.deepEqual(second!.condition, { pathRegex: '\\/reviews\\/.*' });
  assert.deepEqual(second!.split, [{ service: 'reviews', weight: 90 }, { service: 'search.example.com:8080', weight: 10 }]);
  assert.deepEqual(second!.retry?.maxAttempts, 1);
  assert.equal(config.services.ratings!.policy.routes, undefined);
  assert.ok(config.sources.reviews!.some((s) => /^istio\.yaml:\d+:\d+$/.test(s) && s !== config.sources.reviews![0]));
});

test('VirtualService without retries gets Istio\'s default: 2 retries on connect-failure, refused-stream, unavailable, cancelled and 503', () => {
  const config = parseMeshConfig(`${MESH}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route: [{ destination: { host: reviews } }]
`, 'istio.yaml');
  assert.deepEqual(config.services.reviews!.policy.routes![0]!.retry, { maxAttempts: 3, retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes', 503] });
});

test('DestinationRule: load balancer, consistent hash, connection pool, outlier detection and subsets become the service\'s settings', () => {
  const rule = (host: string, trafficPolicy: string) => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${host} }
spec:
  host: ${host}
  trafficPolicy: ${trafficPolicy}
`;
  const config = parseMeshConfig(
    MESH.replace('reviews: { endpoints: ["127.0.0.1:1"] }', 'reviews: { endpoints: ["127.0.0.1:1"], connection: { bodyTimeout: 5s } }') +
      rule('reviews', `
    loadBalancer: { consistentHash: { httpHeaderName: X-User, ringHash: { minimumRingSize: 2048 } } }
    connectionPool:
      tcp: { maxConnections: 10, connectTimeout: 250ms }
      http: { http1MaxPendingRequests: 5, http2MaxRequests: 100, maxRequestsPerConnection: 20, idleTimeout: 30s }
    outlierDetection: { consecutive5xxErrors: 3, interval: 10s, baseEjectionTime: 1m }
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: canary, labels: { version: v2, track: canary } }`) +
      rule('ratings', `
    loadBalancer: { simple: LEAST_REQUEST }
    outlierDetection: { consecutive5xxErrors: 0 }`),
    'istio.yaml',
  );
  const reviews = config.services.reviews!;
  assert.equal(reviews.balancer, 'ring-hash');
  assert.deepEqual(reviews.consistentHash, { key: { header: 'x-user' }, minimumRingSize: 2048, tableSize: 65_537 });
  assert.deepEqual(reviews.connection, { connections: 10, keepAliveTimeoutMs: 30_000, connectTimeoutMs: 250, headersTimeoutMs: 300_000, bodyTimeoutMs: 5000, maxRequestsPerConnection: 20, maxPendingRequests: 5 });
  assert.deepEqual(reviews.policy.limits, { maxConcurrency: 100 });
  // Istio's default ejection share (10%), not meshwork's.
  assert.deepEqual(reviews.outlierDetection, { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 300_000, maxEjectedPercent: 10 });
  assert.deepEqual(reviews.subsets, { v1: { version: 'v1' }, canary: { version: 'v2', track: 'canary' } });
  const ratings = config.services.ratings!;
  assert.equal(ratings.balancer, 'p2c-least-request');
  assert.equal(ratings.outlierDetection, false, 'consecutive5xxErrors: 0 turns ejection off, as in Istio');

  const maglev = parseMeshConfig(MESH + rule('reviews', '{ loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 251 } } } }'), 'istio.yaml');
  assert.equal(maglev.services.reviews!.balancer, 'maglev');
  assert.deepEqual(maglev.services.reviews!.consistentHash, { key: { sourceAddress: true }, minimumRingSize: 1024, tableSize: 251 });
  const cookie = parseMeshConfig(MESH + rule('reviews', '{ loadBalancer: { consistentHash: { httpCookie: { name: session } } } }'), 'istio.yaml');
  assert.deepEqual(cookie.services.reviews!.consistentHash?.key, { cookie: 'session' });
});

test('fields meshwork cannot honour are refused with file, line and field, and the reason', () => {
  const problems = problemsOf(`${MESH}---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: { prefix: /a }
      ignoreUriCase: true
    rewrite: { uri: /b }
    route:
    - destination: { host: reviews }
    mirror: { host: ratings, subset: v1 }
    retries: { attempts: 2, retryOn: "5xx,envoy-ratelimited" }
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  trafficPolicy:
    tls: { mode: ISTIO_MUTUAL }
    loadBalancer: { simple: PASSTHROUGH }
    connectionPool: { http: { maxRetries: 3 } }
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { loadBalancer: { simple: RANDOM } }
`);
  assert.deepEqual(problems, [
    'istio.yaml:17:22: VirtualService "reviews" spec.http[0].match[0].ignoreUriCase: not supported by meshwork: case-insensitive URI matching; remove it, got true',
    'istio.yaml:22:38: VirtualService "reviews" spec.http[0].retries.retryOn: retry condition "envoy-ratelimited" is not supported (meshwork has no Envoy rate-limit header to read) (in "envoy-ratelimited"), got "5xx,envoy-ratelimited"',
    'istio.yaml:21:38: VirtualService "reviews" spec.http[0].mirror.subset: not supported by meshwork: mirroring to a subset (mirror to the whole host); remove it, got "v1"',
    'istio.yaml:18:14: VirtualService "reviews" spec.http[0].rewrite: not supported by meshwork: URI and authority rewriting; remove it, got {"uri":"/b"}',
    'istio.yaml:31:29: DestinationRule "reviews" spec.trafficPolicy.loadBalancer.simple: not supported by meshwork: PASSTHROUGH (a request goes to an endpoint discovery lists); remove it, got "PASSTHROUGH"',
    'istio.yaml:32:43: DestinationRule "reviews" spec.trafficPolicy.connectionPool.http.maxRetries: not supported by meshwork: a cap on concurrent retries (retries are bounded by the service\'s retry budget); remove it, got 3',
    'istio.yaml:30:10: DestinationRule "reviews" spec.trafficPolicy.tls: not supported by meshwork: TLS settings here (give the service tls: { identity } in the Mesh document); remove it, got {"mode":"ISTIO_MUTUAL"}',
    'istio.yaml:36:20: DestinationRule "reviews" spec.subsets[0].trafficPolicy: not supported by meshwork: a subset\'s own trafficPolicy (the service\'s applies to every subset); remove it, got {"loadBalancer":{"simple":"RANDOM"}}',
  ]);
});

test('what a VirtualService or DestinationRule names must exist, and a service takes its routes from one document', () => {
  const problems = problemsOf(`${MESH.replace('ratings: { endpoints: ["127.0.0.1:2"] }', 'ratings: { endpoints: ["127.0.0.1:2"], retries: false }')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-again }
spec:
  host: reviews.default.svc.cluster.local
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: details }
spec:
  host: details
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route:
    - { destination: { host: reviews, subset: v2 }, weight: 50 }
    - { destination: { host: search.example.com }, weight: 50 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings, "*.example.com"]
  http:
  - route: [{ destination: { host: ratings } }]
    retries: { attempts: 2 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings-again }
spec:
  hosts: [ratings]
  http:
  - route: [{ destination: { host: ratings } }]
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: reviews.shop.svc.cluster.local }
spec:
  routes: [{ name: all, condition: { pathRegex: /.* } }]
`);
  assert.deepEqual(problems, [
    'istio.yaml:20:9: DestinationRule "reviews-again" spec.host: service "reviews" already has a DestinationRule (istio.yaml:13:9); give it one',
    'istio.yaml:26:9: DestinationRule "details" spec.host: no Mesh service is named "details" or "details"; define it under spec.services of a kind: Mesh document',
    'istio.yaml:32:11: VirtualService "reviews" spec.hosts[0]: service "reviews" has routes from a ServiceProfile (istio.yaml:57:19); give its routes in one of the two',
    'istio.yaml:35:47: VirtualService "reviews" spec.http[0].route[0].destination.subset: service "reviews" has no subset "v2" (its subsets: v1)',
    'istio.yaml:36:30: VirtualService "reviews" spec.http[0].route[1].destination.host: no Mesh service is named "search.example.com" or "search"; define it under spec.services of a kind: Mesh document, or give port.number to reach "search.example.com" by DNS',
    'istio.yaml:42:20: VirtualService "ratings" spec.hosts[1]: wildcard hosts are not supported: name one mesh service',
    'istio.yaml:45:14: VirtualService "ratings" spec.http[0].retries: service "ratings" has retries: false in its Mesh document; remove that or these retries',
    'istio.yaml:51:11: VirtualService "ratings-again" spec.hosts[0]: service "ratings" already has a VirtualService (istio.yaml:40:19); give its routes in one',
  ]);
});

test('the mapped routes at work: first match by URI and method, Envoy retry conditions within the budget, consistent hashing on a header', async () => {
  const [v1, v2] = await Promise.all([startBackend('reviews-v1'), startBackend('reviews-v2')]);
  const hashed = await startBackends(5, 'ratings-');
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-istio-'));
  const file = join(dir, 'mesh.yaml');
  const labelled = (b: TestBackend, version: string) => `{ host: 127.0.0.1, port: ${b.port}, labels: { version: ${version} } }`;
  await writeFile(
    file,
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  services:
    reviews: { endpoints: [${labelled(v1, 'v1')}, ${labelled(v2, 'v2')}] }
    ratings: { endpoints: [${hashed.map((b) => `"${b.address}"`).join(', ')}] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings }
spec:
  host: ratings
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - match: [{ uri: { exact: /reviews/new }, method: { exact: POST } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
    retries: { attempts: 2, retryOn: connect-failure }
  - match: [{ uri: { regex: "/reviews/[0-9]+" } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
    retries: { attempts: 2, retryOn: "5xx" }
  - route: [{ destination: { host: reviews, subset: v1 } }]
`,
  );
  const mesh = createMesh({ config: file, random: seededRandom(7) });
  const call = async (service: string, method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await mesh.client(service).request({ method, path, headers });
    await res.body.dump();
    return { status: res.statusCode, backend: String(res.headers['x-backend']) };
  };
  try {
    assert.equal((await call('reviews', 'POST', '/reviews/new')).backend, 'reviews-v2');
    assert.equal((await call('reviews', 'GET', '/reviews/new')).backend, 'reviews-v1', 'the method is part of the match');
    assert.equal((await call('reviews', 'GET', '/reviews/new/1')).backend, 'reviews-v1', 'exact means the whole path');
    assert.equal((await call('reviews', 'GET', '/reviews/42')).backend, 'reviews-v2');
    assert.equal((await call('reviews', 'GET', '/reviews/42?full=1')).backend, 'reviews-v2', 'the query is not part of the URI match');

    // retryOn 5xx with 2 attempts: two 503s, then the answer; connect-failure alone does not retry a 503.
    v2.hits = 0;
    v2.behaviour = { script: [503, 503] };
    assert.deepEqual(await call('reviews', 'GET', '/reviews/7'), { status: 200, backend: 'reviews-v2' });
    assert.equal(v2.hits, 3);
    v2.hits = 0;
    v2.behaviour = { script: [503] };
    assert.equal((await call('reviews', 'POST', '/reviews/new')).status, 503);
    assert.equal(v2.hits, 1);

    const byUser = new Map<string, Set<string>>();
    for (let round = 0; round < 5; round++) {
      for (let user = 0; user < 40; user++) {
        const { backend } = await call('ratings', 'GET', '/ratings/1', { 'x-user': `user-${user}` });
        if (!byUser.has(`user-${user}`)) byUser.set(`user-${user}`, new Set());
        byUser.get(`user-${user}`)!.add(backend);
      }
    }
    assert.ok([...byUser.values()].every((backends) => backends.size === 1), 'each user sticks to one endpoint');
    assert.ok(new Set([...byUser.values()].map((s) => [...s][0])).size >= 4, 'the users are spread over the endpoints');
  } finally {
    await mesh.close();
    await Promise.all([v1, v2, ...hashed].map((b) => b.stop()));
    await rm(dir, { recursive: true, force: true });
  }
});

test('a route\'s perTryTimeout ends one attempt on the mesh clock, and retryOn reset sends the next', async () => {
  const holding = new Set<import('node:http').ServerResponse>();
  let arrivals = 0;
  const server = (await import('node:http')).createServer((_req, res) => {
    arrivals++;
    // The first attempt is never answered; the retry is.
    if (arrivals === 1) holding.add(res);
    else res.end('second');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const clock = new ManualClock();
  const mesh = createMesh({
    clock,
    config: await writeConfig(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  services:
    reviews: { endpoints: ["127.0.0.1:${port}"], outlierDetection: false, circuitBreaker: false }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route: [{ destination: { host: reviews } }]
    retries: { attempts: 1, perTryTimeout: 500ms, retryOn: reset }
`),
  });
  try {
    let answer: string | undefined;
    const request = mesh
      .client('reviews')
      .request({ path: '/slow' })
      .then((res) => res.body.text())
      .then((text) => (answer = text));
    while (arrivals === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    clock.advance(499);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(arrivals, 1, 'no second attempt before the per-try timeout');
    clock.advance(1);
    // The retry waits a jittered backoff on the same clock; step it until the second attempt is answered.
    for (let step = 0; answer === undefined && step < 200; step++) {
      clock.advance(25);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(answer, 'second');
    assert.equal(await request, 'second');
    assert.equal(arrivals, 2);
  } finally {
    for (const res of holding) res.destroy();
    await mesh.close();
    server.closeAllConnections();
    server.close();
  }
});

async function writeConfig(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-istio-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, text);
  return file;
}

test('a ServiceProfile from the cluster does not replace the routes a VirtualService gives: it is refused, naming both', () => {
  const config = parseMeshConfig(`${MESH}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route: [{ destination: { host: reviews } }]
`, 'istio.yaml');
  const profiles = new ClusterProfiles();
  const profile = (routes: boolean) => ({
    metadata: { name: 'reviews.shop.svc.cluster.local', namespace: 'shop', resourceVersion: routes ? '2' : '1' },
    spec: { retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 1, ttl: '10s' }, ...(routes ? { routes: [{ name: 'all', condition: { pathRegex: '/.*' } }] } : {}) },
  });
  assert.deepEqual(profiles.update(new Map([['shop/reviews', profile(true)]]), config), [
    'ServiceProfile shop/reviews: spec.routes: service "reviews" has its routes from a VirtualService (istio.yaml:11:19); give them in one of the two; it is not applied',
  ]);
  assert.equal(profiles.apply(config).config.services.reviews!.policy.routes![0]!.name, 'reviews-0');
  // Without routes it takes what it gives (the retry budget) and leaves the VirtualService's routes alone.
  assert.deepEqual(profiles.update(new Map([['shop/reviews', profile(false)]]), config), []);
  const applied = profiles.apply(config).config.services.reviews!;
  assert.equal(applied.policy.routes![0]!.name, 'reviews-0');
  assert.equal((applied.policy.retries as { budget?: { retryRatio?: number } }).budget?.retryRatio, 0.5);
});

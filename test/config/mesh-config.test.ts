import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseByteSize } from '../../src/config/byte-size.js';
import { parseDuration } from '../../src/core/duration.js';
import { loadMeshConfig, parseMeshConfig } from '../../src/config/mesh-config.js';
import { parseQuantity } from '../../src/config/quantity.js';
import { validateServiceConfig } from '../../src/config/service-settings.js';
import { readEndpointList } from '../../src/discovery/endpoint-list.js';

test('durations: units, Go compound forms, bare milliseconds; nonsense is undefined', () => {
  const cases: [string, number | undefined][] = [
    ['250ms', 250], ['2s', 2000], ['1.5s', 1500], ['1m', 60_000], ['1m30s', 90_000], ['1h', 3_600_000], ['500us', 0.5], ['100', 100],
    ['', undefined], ['2 s', undefined], ['soon', undefined], ['1d', undefined], ['s', undefined],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('quantities and byte sizes', () => {
  assert.equal(parseQuantity('900m'), 0.9);
  assert.equal(parseQuantity('1'), 1);
  assert.equal(parseQuantity('10k'), 10_000);
  assert.equal(parseQuantity('lots'), undefined);
  assert.equal(parseByteSize('64KiB'), 65_536);
  assert.equal(parseByteSize('1MiB'), 1_048_576);
  assert.equal(parseByteSize(512), 512);
  assert.equal(parseByteSize('12 parsecs'), undefined);
});

test('code options get the same defaults and normalization as YAML', () => {
  const settings = validateServiceConfig('reviews', { endpoints: ['127.0.0.1:1'], timeout: '2s', retries: { budget: { ttl: '5s' }, maxBodyBytes: '1KiB' } }, 'test');
  assert.equal(settings.balancer, 'p2c-ewma');
  assert.deepEqual(settings.ewma, { decayMs: 10_000, initialRttMs: 30 });
  assert.deepEqual(settings.outlierDetection, { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedPercent: 50 });
  assert.deepEqual(settings.policy.timeouts, { totalMs: 2000 });
  assert.deepEqual(settings.policy.retries, { budget: { ttlMs: 5000 }, maxBodyBytes: 1024 });
});

test('examples/mesh.yaml uses every feature and loads', async () => {
  const config = await loadMeshConfig('examples/mesh.yaml');
  assert.deepEqual(Object.keys(config.services), ['productpage', 'reviews', 'reviews-v2', 'ratings', 'details']);
  const reviews = config.services.reviews!;
  assert.equal(reviews.discovery, 'file:./reviews-endpoints.json');
  assert.deepEqual(readEndpointList(JSON.parse(readFileSync('examples/reviews-endpoints.json', 'utf8'))), [{ host: '127.0.0.1', port: 9082 }, { host: '127.0.0.1', port: 9083 }]);
  assert.deepEqual(reviews.policy.timeouts, { totalMs: 2000, perTryMs: 500 });
  assert.deepEqual(reviews.policy.retries, { budget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 }, backoff: { baseMs: 25, maxMs: 1000 }, maxBodyBytes: 65_536, maxAttempts: 3 });
  assert.deepEqual(reviews.policy.split, [{ service: 'reviews', weight: 90 }, { service: 'reviews-v2', weight: 10 }]);
  assert.equal(reviews.policy.routes?.[0]?.timeoutMs, 300);
  assert.deepEqual(config.services.ratings!.policy.faults?.[0], { match: { headers: { 'end-user': 'jason' } }, delay: { percent: 100, fixedDelayMs: 7000 } });
  assert.deepEqual(config.services.productpage!.policy.limits, {
    maxConcurrency: 200,
    rateLimit: { requestsPerSecond: 500, burst: 100 },
    adaptive: { initialLimit: 20, minLimit: 20, maxLimit: 200, smoothing: 0.2, rttTolerance: 1.5, longWindow: 600, queueSize: 4, sampleWindowMs: 100, minWindowSamples: 10 },
  });
  assert.equal(reviews.policy.routes?.[0]?.isIdempotent, true);
  assert.deepEqual(reviews.policy.hedging, { percentile: 95, minDelayMs: 1, windowMs: 30_000, minSamples: 20 });
  assert.deepEqual(reviews.policy.mirror, { service: 'reviews-v2', percent: 10, maxInFlight: 100, timeoutMs: 2_000 });
  assert.equal(config.services.details!.policy.retries, false);
  const v2 = config.services['reviews-v2']!;
  assert.deepEqual(v2.endpoints, [{ host: '127.0.0.1', port: 9091, weight: 3, labels: { version: 'v2' } }, { host: '127.0.0.1', port: 9092, labels: { version: 'v2', track: 'canary' } }]);
  assert.deepEqual(v2.subsets, { canary: { track: 'canary' } });
  assert.deepEqual([v2.balancer, v2.consistentHash?.key], ['ring-hash', { header: 'x-user' }]);
  assert.equal(config.unknownHosts, 'passthrough');
  assert.deepEqual(config.admin, { tap: { enabled: true, maxEventsPerSecond: 100, redactHeaders: ['x-api-key'] }, statsWindow: 10_000 });
  assert.equal(config.tracing?.otlp.endpoint, 'http://127.0.0.1:4318/v1/traces');
});

test('a real Linkerd ServiceProfile loads as is and attaches by its first DNS label', async () => {
  const config = await loadMeshConfig('examples/reviews-profile.yaml');
  const policy = config.services.reviews!.policy;
  assert.deepEqual(policy.routes?.map((r) => r.name), ['GET /reviews/{id}', 'POST /reviews']);
  assert.deepEqual(policy.routes?.[0]?.responseClasses, [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }]);
  assert.deepEqual(policy.retries, { budget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 } });
  assert.deepEqual(policy.split, [
    { service: 'reviews.default.svc.cluster.local:9080', weight: 0.9 },
    { service: 'reviews-v2.default.svc.cluster.local:9080', weight: 0.1 },
  ]);
  assert.equal(config.sources.reviews!.length, 2, 'the Mesh document and the profile');
  assert.match(readFileSync('examples/reviews-profile.yaml', 'utf8'), /apiVersion: linkerd\.io\/v1alpha2/);
});

test('a profile keeps the Mesh document’s other retry settings and replaces its budget', () => {
  const config = parseMeshConfig(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    reviews:
      endpoints: ["127.0.0.1:1"]
      retries: { maxAttempts: 2, budget: { retryRatio: 0.5 } }
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: reviews }
spec:
  retryBudget: { retryRatio: 0.1, minRetriesPerSecond: 5, ttl: 1m }
`,
    'mixed.yaml',
  );
  assert.deepEqual(config.services.reviews!.policy.retries, { budget: { retryRatio: 0.1, minRetriesPerSecond: 5, ttlMs: 60_000 }, maxAttempts: 2 });
});

test('a ServiceProfile route keeps to Linkerd\'s fields: a split, faults or Envoy retries there are refused', () => {
  const text = `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec: { services: { reviews: { endpoints: ["127.0.0.1:1"] } } }
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: reviews }
spec:
  routes: [{ name: a, condition: { pathRegex: /.* }, split: [{ service: x, weight: 1 }] }]
`;
  assert.throws(() => parseMeshConfig(text, 'f.yaml'), /f\.yaml:9:54: ServiceProfile "reviews" spec\.routes\[0\]: unknown field "split"/);
});

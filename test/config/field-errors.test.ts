/**
 * Every validation error names the field and quotes the value it rejects, whether the options come
 * from code (createMesh, meshClient) or from YAML. One bad value per field: the problem line for that
 * field must end its message with `got <the value as JSON>` (cut short when long).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { createMesh, meshClient } from '../../src/index.js';
import { isMeshError } from '../../src/core/errors.js';
import { quoteValue } from '../../src/core/quote-value.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';

type Path = (string | number)[];
type Row = [field: string, value: unknown, base?: Record<string, unknown>];

const ENDPOINTS = { endpoints: ['127.0.0.1:9080'] };
const ROUTE = { routes: [{ name: 'r', condition: { method: 'GET' } }] };
const MIRROR = { mirror: { service: 'reviews-next' } };
const DNS = { discovery: { type: 'dns', hostname: 'reviews.local', port: 9080 } };

/** One bad value per field of a service's options. */
const SERVICE_ROWS: Row[] = [
  ['endpoints', '127.0.0.1:9080'],
  ['endpoints', []],
  ['endpoints[1]', '10.0.0.7'],
  ['endpoints[0]', 'reviews:99999'],
  ['endpoints[0]', 42],
  ['endpoints[0].host', '', { endpoints: [{ port: 1 }] }],
  ['endpoints[0].port', 70000, { endpoints: [{ host: 'h' }] }],
  ['endpoints[0].identity', 'words', { endpoints: [{ host: 'h', port: 1 }] }],
  ['discovery', 42, {}],
  ['discovery', 'consul:reviews', {}],
  ['discovery', 'dns:reviews.local', {}],
  ['discovery[0]', 'nohost', {}],
  ['discovery.type', 'etcd', {}],
  ['discovery.port', 0, DNS],
  ['discovery.hostname', '', DNS],
  ['discovery.nameservers[0]', 'ns1.local', DNS],
  ['discovery.queryTimeoutMs', '2s', DNS],
  ['discovery.path', '', { discovery: { type: 'file' } }],
  ['discovery.endpoints[0]', 'h', { discovery: { type: 'static' } }],
  ['balancer', 'fastest'],
  ['ewma.decay', 'soon'],
  ['ewma.initialRtt', -1],
  ['outlierDetection', true],
  ['outlierDetection.consecutiveFailures', 1.5],
  ['outlierDetection.baseEjectionTime', '30 s'],
  ['outlierDetection.maxEjectionTime', 0],
  ['outlierDetection.maxEjectedPercent', 101],
  ['connection.connections', 0],
  ['connection.keepAliveTimeout', 'long'],
  ['connection.connectTimeout', '1d'],
  ['connection.headersTimeout', -1],
  ['connection.bodyTimeout', 'forever'],
  ['discoveryTimeout', 'never'],
  ['timeout', '2 parsecs'],
  ['perTryTimeout', -5],
  ['retries', 'yes'],
  ['retries.budget.retryRatio', -1],
  ['retries.budget.minRetriesPerSecond', 2.5],
  ['retries.budget.ttl', '10 seconds'],
  ['retries.backoff.base', 'x'],
  ['retries.backoff.max', 0],
  ['retries.maxBodyBytes', '64 parsecs'],
  ['retries.maxAttempts', 0],
  ['retries.maxAttempts', 'three'],
  ['retries.retryNonRouted', 'yes'],
  ['retries.grpcStatusCodes', []],
  ['retries.grpcStatusCodes[0]', 'NOPE'],
  ['circuitBreaker', 'on'],
  ['circuitBreaker.errorThresholdPercentage', 150],
  ['circuitBreaker.volumeThreshold', -1],
  ['circuitBreaker.resetTimeout', 'x'],
  ['circuitBreaker.rollingWindow', 'x'],
  ['faults', { abort: { percent: 1, httpStatus: 503 } }],
  ['faults[0]', {}],
  ['faults[0].delay.percent', 101, { faults: [{ delay: { fixedDelay: '1s' } }] }],
  ['faults[0].delay.fixedDelay', 'soon', { faults: [{ delay: { percent: 1 } }] }],
  ['faults[0].abort.percent', -1, { faults: [{ abort: { httpStatus: 503 } }] }],
  ['faults[0].abort.httpStatus', 999, { faults: [{ abort: { percent: 1 } }] }],
  ['faults[0].abort.grpcStatus', 99, { faults: [{ abort: { percent: 1, httpStatus: 503 } }] }],
  ['faults[0].match.method', '', { faults: [{ abort: { percent: 1, httpStatus: 503 } }] }],
  ['routes', { name: 'r' }],
  ['routes[0].name', '', ROUTE],
  ['routes[0].condition', 'GET', ROUTE],
  ['routes[0].condition.pathRegex', '/reviews/(', ROUTE],
  ['routes[0].condition.headers.x-user.exact', 1, ROUTE],
  ['routes[0].condition.any', { method: 'GET' }, ROUTE],
  ['routes[0].isRetryable', 'yes', ROUTE],
  ['routes[0].timeout', 'soon', ROUTE],
  ['routes[0].responseClasses[0].condition.status.min', 600, ROUTE],
  ['routes[0].responseClasses[0].condition.status', { min: 500, max: 400 }, ROUTE],
  ['routes[0].responseClasses[0].isFailure', 'yes', { routes: [{ name: 'r', condition: {}, responseClasses: [{ condition: {} }] }] }],
  ['split', []],
  ['split', [{ service: 'reviews', weight: 0 }]],
  ['split[0].service', '', { split: [{ weight: 1 }] }],
  ['split[0].weight', 'lots', { split: [{ service: 'reviews' }] }],
  ['tls.identity', 'words'],
  ['tls.identity', []],
  ['tls.identity[1]', 'words', { tls: { identity: ['spiffe://cluster.local/ns/default/sa/words'] } }],
  ['limits.maxConcurrency', 0],
  ['limits.rateLimit.requestsPerSecond', 0],
  ['limits.rateLimit.burst', 1.5, { limits: { rateLimit: { requestsPerSecond: 10 } } }],
  ['limits.adaptive', 'yes'],
  ['limits.adaptive.smoothing', 2],
  ['limits.adaptive.rttTolerance', 0.5],
  ['limits.adaptive.longWindow', 0],
  ['limits.adaptive.maxLimit', 5, { limits: { adaptive: { minLimit: 10 } } }],
  ['limits.adaptive.initialLimit', 300],
  ['limits.adaptive.sampleWindow', 'soon'],
  ['limits.adaptive.minWindowSamples', 0],
  ['mirror', 'reviews-next'],
  ['mirror.service', '', { mirror: {} }],
  ['mirror.percent', 101, MIRROR],
  ['mirror.maxInFlight', 0, MIRROR],
  ['mirror.timeout', 'soon', MIRROR],
  ['routes[0].mirror', true, ROUTE],
  ['routes[0].mirror.percent', -1, { routes: [{ name: 'r', condition: {}, mirror: { service: 'reviews-next' } }] }],
  ['routes[0].isIdempotent', 'yes', ROUTE],
  ['hedging', true],
  ['hedging.percentile', 100],
  ['hedging.minDelay', 'soon'],
  ['hedging.window', -1],
  ['hedging.minSamples', 0],
];

/** Fields of a Mesh document outside its services, and of a ServiceProfile: YAML only. */
const MESH_DOCUMENT_ROWS: Row[] = [
  ['apiVersion', 'meshwork.dev/v2'],
  ['metadata.name', ''],
  ['spec.unknownHosts', 'sometimes'],
  ['spec.identity.certFile', '', { spec: { identity: { keyFile: 'k', trustAnchorsFile: 'ca' } } }],
  ['spec.identity.expiryWarning', 'soon', { spec: { identity: { certFile: 'c', keyFile: 'k', trustAnchorsFile: 'ca' } } }],
  ['spec.sidecar.outbound', 'nowhere'],
  ['spec.sidecar.inbound', '0.0.0.0:70000'],
  ['spec.sidecar.admin', true],
  ['spec.sidecar.app', 'app:http'],
  ['spec.sidecar.drainGrace', 'a while'],
  ['spec.sidecar.logLevel', 'loud'],
  ['spec.sidecar.accessLog', 'yes'],
  ['spec.sidecar.maxHeaderBytes', 100],
  ['spec.sidecar.inboundTls', 'maybe'],
  ['spec.sidecar.authorization', { from: ['spiffe://cluster.local/ns/shop/*'] }],
  ['spec.sidecar.authorization[0].name', '', { spec: { sidecar: { authorization: [{ from: ['spiffe://cluster.local/*'] }] } } }],
  ['spec.sidecar.authorization[0].from', [], { spec: { sidecar: { authorization: [{}] } } }],
  ['spec.sidecar.authorization[0].from[1]', 'bob', { spec: { sidecar: { authorization: [{ from: ['spiffe://cluster.local/*'] }] } } }],
  ['spec.sidecar.authorization[0].routes[0].pathRegex', '(', { spec: { sidecar: { authorization: [{ from: ['spiffe://cluster.local/*'] }] } } }],
];
const PROFILE_ROWS: Row[] = [
  ['spec.retryBudget.retryRatio', -1],
  ['spec.retryBudget.minRetriesPerSecond', 1.5],
  ['spec.retryBudget.ttl', 'soon'],
  ['spec.dstOverrides[0].authority', '', { spec: { dstOverrides: [{ weight: 1 }] } }],
  ['spec.dstOverrides[0].weight', 'lots', { spec: { dstOverrides: [{ authority: 'reviews' }] } }],
  ['spec.routes[0].timeout', 'soon', { spec: { routes: [{ name: 'r', condition: { method: 'GET' } }] } }],
  ['spec.routes[0].condition.method', '', { spec: { routes: [{ name: 'r', condition: {} }] } }],
];

function parsePath(field: string): Path {
  return [...field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] === undefined ? m[1]! : Number(m[2])));
}

/** A deep copy of `base` with `value` at `field`, making the objects and lists on the way. */
function withValue(base: Record<string, unknown>, field: string, value: unknown): Record<string, unknown> {
  const root = structuredClone(base);
  const path = parsePath(field);
  let node: Record<string | number, unknown> = root;
  path.forEach((step, i) => {
    if (i === path.length - 1) {
      node[step] = value;
      return;
    }
    node[step] ??= typeof path[i + 1] === 'number' ? [] : {};
    node = node[step] as Record<string | number, unknown>;
  });
  return root;
}

/** The one problem line about `field` (as printed after the prefix), or a failure listing them all. */
function problemAbout(message: string, fieldPrinted: string): string {
  const line = message.split('\n').find((l) => l.includes(` ${fieldPrinted}: `));
  assert.ok(line, `no problem names ${fieldPrinted}:\n${message}`);
  return line.slice(line.indexOf(` ${fieldPrinted}: `) + fieldPrinted.length + 3);
}

function assertQuotes(problem: string, value: unknown, context: string): void {
  assert.ok(problem.endsWith(`got ${quoteValue(value)}`), `${context}: "${problem}" should end with got ${quoteValue(value)}`);
}

function codeError(options: Record<string, unknown>): string {
  try {
    const mesh = createMesh({ services: { reviews: options as never } });
    void mesh.close();
  } catch (err) {
    assert.ok(isMeshError(err, 'INVALID_OPTIONS'), String(err));
    return err.message;
  }
  assert.fail(`accepted: ${JSON.stringify(options)}`);
}

function yamlError(documents: object[]): string {
  try {
    parseMeshConfig(documents.map((d) => stringify(d)).join('---\n'), 'mesh.yaml');
  } catch (err) {
    assert.ok(isMeshError(err, 'INVALID_CONFIG'), String(err));
    return err.message;
  }
  assert.fail(`accepted: ${JSON.stringify(documents)}`);
}

const meshDocument = (spec: object) => ({ apiVersion: 'meshwork.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'shop' }, spec });

for (const [field, value, base = ENDPOINTS] of SERVICE_ROWS) {
  test(`service option ${field} = ${JSON.stringify(value)}`, () => {
    const options = withValue(base, field, value);
    assertQuotes(problemAbout(codeError(options), field), value, 'code options');
    assertQuotes(problemAbout(yamlError([meshDocument({ services: { reviews: options } })]), `spec.services.reviews.${field}`), value, 'YAML');
  });
}

for (const [field, value, base = {}] of MESH_DOCUMENT_ROWS) {
  test(`Mesh document ${field} = ${JSON.stringify(value)}`, () => {
    const document = withValue({ ...meshDocument({ services: { reviews: ENDPOINTS } }), ...base, spec: { services: { reviews: ENDPOINTS }, ...(base.spec as object) } }, field, value);
    assertQuotes(problemAbout(yamlError([document]), field), value, 'YAML');
  });
}

for (const [field, value, base = {}] of PROFILE_ROWS) {
  test(`ServiceProfile ${field} = ${JSON.stringify(value)}`, () => {
    const profile = withValue({ apiVersion: 'linkerd.io/v1alpha2', kind: 'ServiceProfile', metadata: { name: 'reviews.default.svc.cluster.local' }, spec: {}, ...base }, field, value);
    const message = yamlError([meshDocument({ services: { reviews: ENDPOINTS } }), profile]);
    assert.match(message, /ServiceProfile "reviews\.default\.svc\.cluster\.local" spec\./, 'the error is the profile’s, not the service’s');
    assertQuotes(problemAbout(message, field), value, 'YAML');
  });
}

test('meshClient quotes the value too', () => {
  assert.throws(
    () => meshClient('reviews', { endpoints: ['127.0.0.1:1', '10.0.0.7'] }),
    (err: unknown) => isMeshError(err, 'INVALID_OPTIONS') && err.message.includes('endpoints[1]: expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080, got "10.0.0.7"'),
  );
});

test('a long value is quoted cut short, with its length', () => {
  const long = `${'x'.repeat(300)}s`;
  for (const message of [codeError({ ...ENDPOINTS, timeout: long }), yamlError([meshDocument({ services: { reviews: { ...ENDPOINTS, timeout: long } } })])]) {
    const problem = problemAbout(message, message.includes('spec.services') ? 'spec.services.reviews.timeout' : 'timeout');
    assert.equal(problem, `expected a duration such as 250ms, 2s or 1m, got "${'x'.repeat(59)}…" (301 characters)`);
  }
  const list = Array.from({ length: 50 }, (_, i) => `10.0.0.${i}`);
  assert.match(problemAbout(codeError({ ...ENDPOINTS, tls: { identity: list } }), 'tls.identity[0]'), /got "10\.0\.0\.0"$/);
});

test('an unknown field is named, not quoted, in discovery objects as elsewhere', () => {
  const message = yamlError([meshDocument({ services: { reviews: { discovery: { type: 'dns', hostname: 'x', port: 1, nameserver: ['10.0.0.10'] } } } })]);
  assert.equal(problemAbout(message, 'spec.services.reviews.discovery'), 'unknown field "nameserver" for type dns; allowed: type, hostname, port, nameservers, refreshIntervalMs, minRefreshMs, maxRefreshMs, queryTimeoutMs');
});

test('endpoint weight and labels are taken everywhere an endpoint is written; bad ones are refused with the reason', () => {
  const entry = { host: '127.0.0.1', port: 9081, weight: 3, labels: { version: 'v2' } };
  for (const options of [{ endpoints: ['127.0.0.1:9080', entry] }, { discovery: [entry] }, { discovery: { type: 'static', endpoints: [entry] } }]) {
    const mesh = createMesh({ services: { reviews: options as never } });
    void mesh.close();
    assert.doesNotThrow(() => parseMeshConfig(stringify(meshDocument({ services: { reviews: options } })), 'mesh.yaml'));
  }
  const refusals: [string, unknown, string, RegExp][] = [
    ['weight', 0, 'weight', /^expected a weight above 0 \(a relative share, such as 1 or 3; to take an endpoint out of rotation, remove it\), got 0$/],
    ['weight', 'heavy', 'weight', /^expected a weight above 0 .*, got "heavy"$/],
    ['labels', { version: 2 }, 'labels.version', /^expected a label value as a string \(quote it in YAML: "2"\), got 2$/],
    ['labels', ['v2'], 'labels', /^expected labels as a mapping of names to strings, such as \{ version: v2 \}, got \["v2"\]$/],
  ];
  for (const [field, value, at, reason] of refusals) {
    const bad = { host: '127.0.0.1', port: 9081, [field]: value };
    const options = { endpoints: ['127.0.0.1:9080', bad] };
    assert.match(problemAbout(codeError(options), `endpoints[1].${at}`), reason, 'code options');
    assert.throws(() => meshClient('reviews', options as never), (err: unknown) => isMeshError(err, 'INVALID_OPTIONS') && err.message.includes(`endpoints[1].${at}: `));
    assert.match(problemAbout(yamlError([meshDocument({ services: { reviews: options } })]), `spec.services.reviews.endpoints[1].${at}`), reason, 'YAML');
    // Static discovery lists, in code and in YAML.
    assert.match(problemAbout(codeError({ discovery: [bad] }), `discovery[0].${at}`), reason, 'code discovery list');
    const yaml = yamlError([meshDocument({ services: { reviews: { discovery: { type: 'static', endpoints: [bad] } } } })]);
    assert.match(problemAbout(yaml, `spec.services.reviews.discovery.endpoints[0].${at}`), reason, 'YAML static discovery');
  }
});

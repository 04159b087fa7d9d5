/**
 * Every malformed config must fail with a message that says where (file:line:col), which field, and
 * what was expected. Each case is a small file; the expected line and field are written out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshError } from '../../src/core/errors.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';

const HEAD = `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata:
  name: t
spec:
  services:
    reviews:
      endpoints: ["127.0.0.1:9080"]
`;
// HEAD is 8 lines; a field appended after it is on line 9, at column 7 under "reviews".
const withField = (yaml: string) => HEAD + yaml.replace(/^/gm, '      ') + '\n';

const PROFILE = (spec: string, name = 'reviews.default.svc.cluster.local') => `${HEAD}---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: ${name}
spec:
${spec.replace(/^/gm, '  ')}
`;

const cases: [string, string, RegExp][] = [
  ['YAML syntax error', `${HEAD}      timeout: [2s\n`, /\n  bad\.yaml:10:1: YAML syntax: Flow sequence/],
  ['duplicate key', `${HEAD}      timeout: 1s\n      timeout: 2s\n`, /bad\.yaml:10:\d+: YAML syntax: .*[Mm]ap keys must be unique/],
  ['unknown kind', `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n`, /bad\.yaml:2:7: ConfigMap "x" kind: unknown kind "ConfigMap"; expected "Mesh"/],
  ['wrong apiVersion', HEAD.replace('meshwork.dev/v1alpha1', 'meshwork.dev/v2'), /bad\.yaml:1:13: Mesh "t" apiVersion: expected "meshwork\.dev\/v1alpha1", got "meshwork\.dev\/v2"/],
  ['unknown field with did-you-mean', withField('balancr: round-robin'), /bad\.yaml:9:7: Mesh service "reviews" spec\.services\.reviews: unknown field "balancr" \(did you mean "balancer"\?\)/],
  ['unknown nested field', withField('retries:\n  budget:\n    retryRation: 0.2'), /bad\.yaml:11:11: Mesh service "reviews" spec\.services\.reviews\.retries\.budget: unknown field "retryRation" \(did you mean "retryRatio"\?\)/],
  ['unknown field in spec', `${HEAD}  sevices: {}\n`, /bad\.yaml:9:3: Mesh "t" spec: unknown field "sevices" \(did you mean "services"\?\)/],
  ['unknown balancer', withField('balancer: fastest'), /bad\.yaml:9:17: .*spec\.services\.reviews\.balancer: expected one of 'p2c-ewma' \| 'p2c-least-request' \| 'round-robin' \| 'random' \| 'ring-hash' \| 'maglev', got "fastest"/],
  ['bad duration', withField('timeout: 2 parsecs'), /bad\.yaml:9:16: .*spec\.services\.reviews\.timeout: expected a duration such as 250ms, 2s or 1m, got "2 parsecs"/],
  ['negative timeout', withField('perTryTimeout: -5'), /bad\.yaml:9:22: .*perTryTimeout: expected a duration above 0, got -5/],
  ['wrong type', withField('retries:\n  maxAttempts: three'), /bad\.yaml:10:22: Mesh service "reviews" spec\.services\.reviews\.retries\.maxAttempts: expected a number, got "three"/],
  ['percent over 100', withField('faults:\n  - abort: { percent: 150, httpStatus: 503 }'), /bad\.yaml:10:29: .*faults\[0\]\.abort\.percent: expected a percentage from 0 to 100/],
  ['fault with neither delay nor abort', withField('faults:\n  - match: { method: GET }'), /bad\.yaml:10:11: .*faults\[0\]: a fault needs a delay, an abort, or both/],
  ['bad http status', withField('faults:\n  - abort: { percent: 1, httpStatus: 999 }'), /faults\[0\]\.abort\.httpStatus: expected an HTTP status from 100 to 599/],
  ['bad regex', withField('routes:\n  - name: r\n    condition: { pathRegex: "/reviews/(" }'), /bad\.yaml:11:35: .*routes\[0\]\.condition\.pathRegex: not a valid regular expression/],
  ['route without condition', withField('routes:\n  - name: r'), /bad\.yaml:10:11: .*routes\[0\]\.condition: required \(an object\)/],
  ['bad status range', withField('routes:\n  - name: r\n    condition: { method: GET }\n    responseClasses:\n      - condition: { status: { min: 600 } }\n        isFailure: true'), /routes\[0\]\.responseClasses\[0\]\.condition\.status\.min: expected an HTTP status from 100 to 599/],
  ['both endpoints and discovery', withField('discovery: dns:reviews.local:9080'), /bad\.yaml:8:7: Mesh service "reviews" spec\.services\.reviews: give either "endpoints" or "discovery", not both/],
  ['neither endpoints nor discovery', `${HEAD.replace('      endpoints: ["127.0.0.1:9080"]\n', '')}      balancer: round-robin\n`, /bad\.yaml:8:7: .*spec\.services\.reviews: no endpoints: give endpoints:/],
  ['bad endpoint string', HEAD.replace('127.0.0.1:9080', 'localhost'), /bad\.yaml:8:19: .*endpoints\[0\]: expected host:port/],
  ['empty split', withField('split: []'), /bad\.yaml:9:14: .*split: expected at least one destination/],
  ['all-zero split', withField('split:\n  - { service: reviews, weight: 0 }'), /split: at least one destination needs a weight above 0/],
  ['bad quantity weight', withField('split:\n  - { service: reviews, weight: lots }'), /split\[0\]\.weight: expected a weight >= 0 \(a number or a quantity such as 900m\), got "lots"/],
  ['negative retryRatio', withField('retries:\n  budget: { retryRatio: -1 }'), /bad\.yaml:10:31: .*retries\.budget\.retryRatio: expected a ratio >= 0/],
  ['bad byte size', withField('retries:\n  maxBodyBytes: 64 parsecs'), /retries\.maxBodyBytes: expected a size in bytes such as 65536 or 64KiB/],
  ['maxEjectedPercent over 100', withField('outlierDetection: { maxEjectedPercent: 101 }'), /outlierDetection\.maxEjectedPercent: expected a percentage from 0 to 100/],
  ['rate limit of zero', withField('limits: { rateLimit: { requestsPerSecond: 0 } }'), /limits\.rateLimit\.requestsPerSecond: expected a rate above 0/],
  ['duplicate service across documents', `${HEAD}---\n${HEAD}`, /bad\.yaml:16:5: Mesh "t" spec\.services\.reviews: service "reviews" is defined twice \(first at bad\.yaml:7:5\)/],
  ['bad service name', HEAD.replace('    reviews:', '    Reviews_!:'), /bad\.yaml:7:5: .*"Reviews_!" is not a service name/],
  ['ServiceProfile for unknown service', PROFILE('routes: []', 'ratings.default.svc.cluster.local'), /bad\.yaml:13:9: ServiceProfile "ratings\.default\.svc\.cluster\.local" metadata\.name: no Mesh service is named "ratings\.default\.svc\.cluster\.local" or "ratings"/],
  ['ServiceProfile unknown spec field', PROFILE('retryBudjet: {}'), /bad\.yaml:15:3: ServiceProfile "reviews\.default\.svc\.cluster\.local" spec: unknown field "retryBudjet" \(did you mean "retryBudget"\?\)/],
  ['ServiceProfile bad route timeout', PROFILE('routes:\n- name: r\n  condition: { method: GET }\n  timeout: soon'), /bad\.yaml:18:14: ServiceProfile .* spec\.routes\[0\]\.timeout: expected a duration such as 250ms/],
  ['no Mesh document', `apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: { name: reviews }\nspec: {}\n`, /no Mesh service is named "reviews"/],
];

for (const [name, yaml, expected] of cases) {
  test(name, () => {
    assert.throws(
      () => parseMeshConfig(yaml, 'bad.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof MeshError, `expected a MeshError, got ${String(err)}`);
        assert.equal(err.code, 'INVALID_CONFIG');
        assert.match(err.message, /^bad\.yaml: invalid config \(\d+ problems?\); nothing was applied:/);
        assert.match(err.message, expected);
        return true;
      },
    );
  });
}

test('every problem in a file is reported at once', () => {
  assert.throws(() => parseMeshConfig(withField('balancer: x\ntimeout: y\nbogus: 1'), 'bad.yaml'), /\(3 problems\)/);
});

/**
 * `spec.admin` (tap, stats window) and `spec.tracing` (OTLP export) in a mesh config: defaults,
 * the `tap: true` shorthand, and every mistake reported with file, line, field and the value.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminSettings } from '../../src/config/admin-schema.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';

const mesh = (spec: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${spec}
  services:
    words: { endpoints: ["127.0.0.1:1"] }
`;

test('tap is off by default; tap: true turns it on with the defaults; the object form sets its limits', () => {
  assert.deepEqual(adminSettings(parseMeshConfig(mesh(''), 'mesh.yaml').admin), { tap: { enabled: false, maxEventsPerSecond: 100, redactHeaders: [] }, statsWindowMs: 10_000 });
  assert.deepEqual(adminSettings(parseMeshConfig(mesh('  admin: { tap: true }'), 'mesh.yaml').admin).tap, { enabled: true, maxEventsPerSecond: 100, redactHeaders: [] });
  const full = parseMeshConfig(mesh('  admin: { tap: { maxEventsPerSecond: 5, redactHeaders: [X-Api-Key] }, statsWindow: 30s }'), 'mesh.yaml');
  assert.deepEqual(adminSettings(full.admin), { tap: { enabled: true, maxEventsPerSecond: 5, redactHeaders: ['X-Api-Key'] }, statsWindowMs: 30_000 });
  const tracing = parseMeshConfig(mesh('  tracing: { otlp: { endpoint: "http://127.0.0.1:4318/v1/traces", timeout: 2s }, batch: { maxQueueSize: 10, delay: 100ms } }'), 'mesh.yaml').tracing;
  assert.deepEqual(tracing, { otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces', timeout: 2_000 }, batch: { maxQueueSize: 10, delay: 100 } });
});

test('mistakes in spec.admin and spec.tracing are listed with file, line, field and the value, alongside the others', () => {
  const yaml = mesh(`  admin:
    tap: { enabled: yes, maxEventsPerSecond: 0, redactHeaders: ["x api key"] }
    statsWindow: 10ms
    tapp: true
  tracing:
    otlp: { endpoint: "collector:4318" }
    batch: { maxQueueSize: 0 }`);
  assert.throws(
    () => parseMeshConfig(yaml, 'mesh.yaml'),
    (err: Error) => {
      assert.equal(
        err.message,
        [
          'mesh.yaml: invalid config (7 problems); nothing was applied:',
          '  mesh.yaml:5:21: Mesh 1 spec.admin.tap.enabled: expected true or false, got "yes"',
          '  mesh.yaml:5:46: Mesh 1 spec.admin.tap.maxEventsPerSecond: expected at least 1, got 0',
          '  mesh.yaml:5:65: Mesh 1 spec.admin.tap.redactHeaders[0]: expected a header name such as x-api-key, got "x api key"',
          '  mesh.yaml:6:18: Mesh 1 spec.admin.statsWindow: expected a window from 1s to 10m, got "10ms"',
          '  mesh.yaml:7:5: Mesh 1 spec.admin: unknown field "tapp" (did you mean "tap"?)',
          '  mesh.yaml:9:23: Mesh 1 spec.tracing.otlp.endpoint: expected an http:// or https:// URL such as http://otel-collector:4318/v1/traces, got "collector:4318"',
          '  mesh.yaml:10:28: Mesh 1 spec.tracing.batch.maxQueueSize: expected at least 1, got 0',
        ].join('\n'),
      );
      return true;
    },
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { sidecarSettings, SIDECAR_DEFAULTS } from '../../src/config/sidecar-schema.js';
import { isMeshError } from '../../src/core/errors.js';

const withSidecar = (sidecar: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  sidecar:
${sidecar}
  services:
    words: { endpoints: ["127.0.0.1:1"] }
`;

test('spec.sidecar is read and layered: file over defaults, flags over file', () => {
  const config = parseMeshConfig(withSidecar('    outbound: 127.0.0.1:5140\n    inbound: "[::]:5143"\n    app: 8080\n    drainGrace: 3s\n    logLevel: warn'), 'mesh.yaml');
  const fromFile = sidecarSettings(config.sidecar);
  assert.deepEqual(fromFile.outbound, { host: '127.0.0.1', port: 5140 });
  assert.deepEqual(fromFile.inbound, { host: '::', port: 5143 });
  assert.deepEqual(fromFile.app, { host: '127.0.0.1', port: 8080 });
  assert.equal(fromFile.drainGraceMs, 3000);
  assert.equal(fromFile.logLevel, 'warn');
  assert.deepEqual(fromFile.admin, SIDECAR_DEFAULTS.admin);
  const withFlags = sidecarSettings(config.sidecar, { outbound: null, logLevel: 'debug' });
  assert.equal(withFlags.outbound, null);
  assert.equal(withFlags.logLevel, 'debug');
  assert.equal(withFlags.drainGraceMs, 3000);
});

test('every sidecar mistake is located, alongside the services\' mistakes', () => {
  const text = `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  sidecar:
    outbund: 127.0.0.1:4140
    admin: 127.0.0.1:70000
    logLevel: loud
  services:
    words: { endpoints: ["127.0.0.1:1"], timeout: soon }
`;
  assert.throws(
    () => parseMeshConfig(text, 'mesh.yaml'),
    (err: unknown) => {
      assert.ok(isMeshError(err, 'INVALID_CONFIG'));
      assert.match(err.message, /mesh\.yaml:5:5: Mesh 1 spec\.sidecar: unknown field "outbund".*outbound/);
      assert.match(err.message, /mesh\.yaml:6:12: Mesh 1 spec\.sidecar\.admin: port 70000 is out of range/);
      assert.match(err.message, /mesh\.yaml:7:15: Mesh 1 spec\.sidecar\.logLevel: /);
      assert.match(err.message, /mesh\.yaml:9:51: Mesh service "words" spec\.services\.words\.timeout: expected a duration/);
      return true;
    },
  );
});

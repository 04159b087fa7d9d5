/** spec.egress as the config reads it: entries kept as written, their service options checked and located. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMeshConfig } from '../../src/config/mesh-config.js';

const withEgress = (egress: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec:
  services: {}
  egress:
${egress}
`;

test('spec.egress is read: hosts in lower case without a trailing dot, ports, and the options as written', () => {
  const config = parseMeshConfig(withEgress(`    allow:
      - { host: API.Partner.com., ports: [80, 8080], timeout: 2s }
      - { host: "*.googleapis.com" }
      - { host: "*" }`), 'mesh.yaml');
  assert.deepEqual(config.egress, [
    { host: 'api.partner.com', ports: [80, 8080], options: { timeout: '2s' } },
    { host: '*.googleapis.com', options: {} },
    { host: '*', options: {} },
  ]);
});

test('egress mistakes are located: a bad host, a bad port, a misspelt service option', () => {
  assert.throws(
    () => parseMeshConfig(withEgress(`    allow:\n      - { host: "a..b" }\n      - { host: ok.test, ports: [70000] }`), 'mesh.yaml'),
    (err: Error) => {
      assert.match(err.message, /mesh\.yaml:8:17: Mesh "app" spec\.egress\.allow\[0\]\.host: expected a host name/);
      assert.match(err.message, /mesh\.yaml:9:34: Mesh "app" spec\.egress\.allow\[1\]\.ports\[0\]: expected a port from 1 to 65535/);
      return true;
    },
  );
  assert.throws(
    () => parseMeshConfig(withEgress(`    allow:\n      - { host: ok.test, retries: { maxAtempts: 2 } }`), 'mesh.yaml'),
    /mesh\.yaml:8:37: Mesh "app" spec\.egress\.allow\[0\]\.retries: unknown field "maxAtempts" \(did you mean "maxAttempts"\?\)/,
  );
});

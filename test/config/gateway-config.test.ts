/**
 * spec.gateway as the config reads it: listeners, certificates with where they were written, routes
 * checked against the mesh's services, and every mistake located by file, line and field.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { GatewayRoutes, normalizeHost } from '../../src/sidecar-mode/gateway-routing.js';

const withGateway = (gateway: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: edge }
spec:
  services:
    shop: { endpoints: ["127.0.0.1:1"] }
  gateway:
${gateway}
`;

test('spec.gateway is read: listeners, certificates (with their location), routes in order, redirect on by default', () => {
  const config = parseMeshConfig(
    withGateway(`    https: 8443
    http: 0.0.0.0:8080
    certificates:
      - { hosts: [Shop.Example.COM., "*.example.com"], certFile: shop.crt, keyFile: shop.key }
    routes:
      - { hosts: [shop.example.com], path: { prefix: /api }, service: shop }
      - { name: rest, hosts: ["*"], service: shop }`),
    'mesh.yaml',
  );
  const gateway = config.gateway!;
  assert.deepEqual(gateway.https, { host: '0.0.0.0', port: 8443 });
  assert.deepEqual(gateway.http, { host: '0.0.0.0', port: 8080 });
  assert.equal(gateway.httpsRedirect, true);
  assert.deepEqual(gateway.certificates[0]!.hosts, ['shop.example.com', '*.example.com']);
  assert.equal(gateway.certificates[0]!.where.keyFile, 'mesh.yaml:11:85: Mesh "edge" spec.gateway.certificates[0].keyFile');
  assert.deepEqual(gateway.routes.map((r) => r.name), ['route-0', 'rest']);
});

test('gateway mistakes are located: a route to no service, a bad host, a bad regex, https without a certificate', () => {
  assert.throws(
    () =>
      parseMeshConfig(
        withGateway(`    https: 8443
    routes:
      - { hosts: [shop.example.com], service: nowhere }
      - { hosts: ["shop..example.com"], service: shop }
      - { hosts: [shop.example.com], path: { regex: "(" }, service: shop }
      - { hosts: [shop.example.com], path: { prefix: /a, exact: /b }, service: shop }`),
        'mesh.yaml',
      ),
    (err: Error) => {
      assert.match(err.message, /mesh\.yaml:8:5: Mesh "edge" spec\.gateway\.certificates: an https listener needs at least one certificate/);
      assert.match(err.message, /mesh\.yaml:11:19: Mesh "edge" spec\.gateway\.routes\[1\]\.hosts\[0\]: expected a host name/);
      assert.match(err.message, /mesh\.yaml:12:53: Mesh "edge" spec\.gateway\.routes\[2\]\.path\.regex: not a valid regular expression/);
      assert.match(err.message, /mesh\.yaml:13:44: Mesh "edge" spec\.gateway\.routes\[3\]\.path: give one of prefix, exact or regex/);
      return true;
    },
  );
  assert.throws(
    () => parseMeshConfig(withGateway(`    http: 8080\n    routes:\n      - { hosts: [shop.example.com], service: nowhere }`), 'mesh.yaml'),
    /mesh\.yaml:10:47: Mesh "edge" spec\.gateway\.routes\[0\]\.service: no Mesh service is named "nowhere"/,
  );
});

test('routing: first match wins; exact, wildcard and * hosts; prefix, exact and whole-path regex; the query is ignored', () => {
  const routes = new GatewayRoutes([
    { name: 'exact', hosts: ['shop.example.com'], path: { exact: '/checkout' }, service: 'checkout' },
    { name: 'prefix', hosts: ['shop.example.com'], path: { prefix: '/api' }, service: 'api' },
    { name: 'regex', hosts: ['*.example.com'], path: { regex: '/v[0-9]+' }, service: 'versioned' },
    { name: 'any', hosts: ['*.example.com'], service: 'fallback' },
  ]);
  const service = (host: string, path: string) => {
    const m = routes.find(host, path);
    return 'route' in m ? m.route.service : 'unknownHost' in m ? 'UNKNOWN_HOST' : 'NO_ROUTE';
  };
  assert.equal(service('shop.example.com', '/checkout?x=1'), 'checkout');
  assert.equal(service('shop.example.com', '/checkout/2'), 'fallback'); // the wildcard host's route comes next
  assert.equal(service('shop.example.com', '/apiv2'), 'api'); // a string prefix, as Envoy's
  assert.equal(service('a.b.example.com', '/v12'), 'versioned');
  assert.equal(service('a.example.com', '/v12/x'), 'fallback'); // the regex must match the whole path
  assert.equal(service('example.com', '/'), 'UNKNOWN_HOST'); // *.example.com is subdomains only
  assert.equal(service('evil-example.com', '/'), 'UNKNOWN_HOST');
  const narrow = new GatewayRoutes([{ name: 'exact', hosts: ['shop.example.com'], path: { exact: '/' }, service: 's' }]);
  assert.deepEqual(narrow.find('shop.example.com', '/other'), { noRoute: true });
  assert.equal(new GatewayRoutes([{ name: 'all', hosts: ['*'], service: 's' }]).serves('anything.test'), true);
});

test('hosts are normalized as DNS names: case, port and trailing dot; malformed ones are refused', () => {
  assert.equal(normalizeHost('SHOP.Example.com.:8443'), 'shop.example.com');
  assert.equal(normalizeHost('[::1]:443'), '[::1]');
  for (const bad of ['shop.example.com:x', 'shop..example.com', 'a b', '', 'shop.example.com:', '[::1']) assert.ok(typeof normalizeHost(bad) !== 'string', bad);
});

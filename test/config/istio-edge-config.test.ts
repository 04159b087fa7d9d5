/**
 * Istio's Gateway and ServiceEntry documents as the gateway section and the egress allow-list, and
 * the routes a gateway takes from the VirtualServices bound to it; every refusal located.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { boundToGateway, gatewayRoutesOf, type GatewayBoundVirtualService } from '../../src/config/istio/gateway-virtual-services.js';

const MESH = `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    shop: { endpoints: ["127.0.0.1:1"] }
`;

const GATEWAY = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: shop
  annotations: { meshwork.io/cert-dir: /etc/certs }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: [shop/shop.example.com]
      tls: { mode: SIMPLE, credentialName: shop-cert }
    - port: { number: 443, name: https-api, protocol: HTTPS }
      hosts: ["*/api.example.com"]
      tls: { mode: SIMPLE, serverCertificate: certs/api.crt, privateKey: certs/api.key }
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: [shop.example.com]
      tls: { httpsRedirect: true }
`;

test('kind: Gateway becomes the gateway: one HTTPS port with a certificate per server, credentialName read from the cert-dir annotation, the HTTP port redirecting', () => {
  const gateway = parseMeshConfig(MESH + GATEWAY, 'mesh.yaml').gateway!;
  assert.deepEqual(gateway.https, { host: '0.0.0.0', port: 443 });
  assert.deepEqual(gateway.http, { host: '0.0.0.0', port: 80 });
  assert.equal(gateway.httpsRedirect, true);
  assert.deepEqual(
    gateway.certificates.map(({ hosts, certFile, keyFile }) => ({ hosts, certFile, keyFile })),
    [
      { hosts: ['shop.example.com'], certFile: '/etc/certs/shop-cert/tls.crt', keyFile: '/etc/certs/shop-cert/tls.key' },
      { hosts: ['api.example.com'], certFile: 'certs/api.crt', keyFile: 'certs/api.key' },
    ],
  );
  assert.equal(gateway.certificates[0]!.where.certFile, 'mesh.yaml:18:44: Gateway "edge" spec.servers[0].tls.credentialName');
  assert.deepEqual(gateway.routes, []);
});

test('what a Gateway cannot be is refused with file, line and field', () => {
  const bad = GATEWAY.replace('  annotations: { meshwork.io/cert-dir: /etc/certs }\n', '')
    .replace('mode: SIMPLE, serverCertificate', 'mode: MUTUAL, serverCertificate')
    .replace('{ number: 80, name: http, protocol: HTTP }', '{ number: 80, name: tcp, protocol: TCP }');
  assert.throws(
    () => parseMeshConfig(MESH + bad, 'mesh.yaml'),
    (err: Error) => {
      assert.match(err.message, /mesh\.yaml:20:20: Gateway "edge" spec\.servers\[1\]\.tls\.mode: only SIMPLE is supported by meshwork/);
      assert.match(err.message, /mesh\.yaml:21:48: Gateway "edge" spec\.servers\[2\]\.port\.protocol: expected HTTP or HTTPS/);
      return true;
    },
  );
  const noCertDir = GATEWAY.replace('  annotations: { meshwork.io/cert-dir: /etc/certs }\n', '');
  assert.throws(() => parseMeshConfig(MESH + noCertDir, 'mesh.yaml'), /mesh\.yaml:\d+:\d+: Gateway "edge" spec\.servers\[0\]\.tls\.credentialName: meshwork reads credentialName "shop-cert" from files: annotate the Gateway with meshwork\.io\/cert-dir/);
  const twoPorts = GATEWAY.replace('{ number: 443, name: https-api', '{ number: 8443, name: https-api');
  assert.throws(() => parseMeshConfig(MESH + twoPorts, 'mesh.yaml'), /spec\.servers\[1\]\.port\.number: a second HTTPS port \(443 is the first\)/);
  const both = MESH + '  gateway: { http: 8080 }\n' + GATEWAY;
  assert.throws(() => parseMeshConfig(both, 'mesh.yaml'), /Gateway "edge" kind: a second gateway \(spec\.gateway or kind: Gateway\); a sidecar runs one/);
});

test('kind: ServiceEntry adds to the egress allow-list: DNS by the host asked, STATIC to the endpoints on the named port', () => {
  const config = parseMeshConfig(
    `${MESH}  egress: { allow: [{ host: own.example.com, timeout: 1s }] }
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: partner }
spec:
  hosts: [api.partner.com, "*.cdn.partner.com"]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  location: MESH_EXTERNAL
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: legacy }
spec:
  hosts: [legacy.example.com]
  ports: [{ number: 80, name: http }, { number: 8080, name: admin }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.7, ports: { http: 9080 } }]
`,
    'mesh.yaml',
  );
  assert.deepEqual(config.egress, [
    { host: 'own.example.com', options: { timeout: '1s' } },
    { host: 'api.partner.com', ports: [80], options: {} },
    { host: '*.cdn.partner.com', ports: [80], options: {} },
    { host: 'legacy.example.com', ports: [80], options: { endpoints: ['10.0.0.7:9080'] } },
    { host: 'legacy.example.com', ports: [8080], options: { endpoints: ['10.0.0.7:8080'] } },
  ]);
});

test('what a ServiceEntry cannot be is refused with file, line and field', () => {
  assert.throws(
    () =>
      parseMeshConfig(
        `${MESH}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: inside }
spec:
  hosts: [reviews.shop.svc.cluster.local]
  addresses: [10.0.0.0/24]
  location: MESH_INTERNAL
  resolution: STATIC
`,
        'mesh.yaml',
      ),
    (err: Error) => {
      assert.match(err.message, /mesh\.yaml:12:14: ServiceEntry "inside" spec\.addresses: not supported by meshwork: virtual IP addresses/);
      assert.match(err.message, /mesh\.yaml:13:13: ServiceEntry "inside" spec\.location: only MESH_EXTERNAL is supported by meshwork/);
      return true;
    },
  );
  const staticWithout = `${MESH}---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: s }\nspec: { hosts: [a.example.com], resolution: STATIC }\n`;
  assert.throws(() => parseMeshConfig(staticWithout, 'mesh.yaml'), /ServiceEntry "s" spec\.endpoints: resolution STATIC needs endpoints/);
});

const vs = (spec: Partial<GatewayBoundVirtualService['spec']>, namespace?: string): GatewayBoundVirtualService => ({
  metadata: { name: 'shop-routes', ...(namespace ? { namespace } : {}) },
  spec: { hosts: ['Shop.Example.com'], gateways: ['shop/edge'], http: [], ...spec },
});

test('VirtualServices bound to the gateway give its routes: one per match alternative, in order, to the service the destination names', () => {
  assert.equal(boundToGateway(vs({}), { name: 'edge', namespace: 'shop' }), true);
  assert.equal(boundToGateway(vs({ gateways: ['edge'] }, 'shop'), { name: 'edge', namespace: 'shop' }), true);
  assert.equal(boundToGateway(vs({ gateways: ['edge'] }, 'other'), { name: 'edge', namespace: 'shop' }), false);
  assert.equal(boundToGateway(vs({ gateways: ['mesh'] }), { name: 'edge', namespace: 'shop' }), false);
  const services = new Set(['shop', 'api']);
  const serviceFor = (host: string) => [host, host.split('.')[0]!].find((n) => services.has(n));
  const { routes, problems } = gatewayRoutesOf(
    vs({
      http: [
        { name: 'checkout', match: [{ uri: { exact: '/checkout' } }, { uri: { prefix: '/cart/' } }], route: [{ destination: { host: 'shop.shop.svc.cluster.local' } }] },
        { match: [{ uri: { regex: '/v[0-9]+/.*' } }], route: [{ destination: { host: 'api' }, weight: 100 }, { destination: { host: 'shop' }, weight: 0 }] },
        { route: [{ destination: { host: 'shop' } }] },
      ],
    }),
    serviceFor,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(routes, [
    { name: 'checkout-0', hosts: ['shop.example.com'], path: { exact: '/checkout' }, service: 'shop' },
    { name: 'checkout-1', hosts: ['shop.example.com'], path: { prefix: '/cart/' }, service: 'shop' },
    { name: 'shop-routes-1', hosts: ['shop.example.com'], path: { regex: '/v[0-9]+/.*' }, service: 'api' },
    { name: 'shop-routes-2', hosts: ['shop.example.com'], service: 'shop' },
  ]);
});

test('what a gateway route cannot be is refused with its field: a split, an unknown service, a match on more than the path', () => {
  const { problems } = gatewayRoutesOf(
    vs({
      http: [
        { route: [{ destination: { host: 'shop' }, weight: 50 }, { destination: { host: 'api' }, weight: 50 }] },
        { route: [{ destination: { host: 'nowhere.example.com' } }] },
        { match: [{ uri: { prefix: '/' }, headers: { 'x-canary': { exact: '1' } } }], route: [{ destination: { host: 'shop' } }] },
      ],
    }),
    (host) => (host === 'shop' ? 'shop' : undefined),
  );
  assert.deepEqual(problems.map((p) => p.path.join('.')), ['spec.http.0.route', 'spec.http.1.route.0.destination.host', 'spec.http.2.match.0']);
  assert.match(problems[0]!.message, /a gateway route goes to one service/);
  assert.match(problems[1]!.message, /no Mesh service is named "nowhere\.example\.com" or "nowhere"/);
  assert.match(problems[2]!.message, /matches the host and the path \(uri\) only, not headers/);
});

const BOUND = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-edge, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http:
    - match: [{ uri: { prefix: /api/ } }, { uri: { exact: /cart } }]
      route: [{ destination: { host: shop.shop.svc.cluster.local } }]
`;

test('a VirtualService in the file that names the Gateway gives the gateway its routes and leaves the service\'s own routes alone', () => {
  const config = parseMeshConfig(MESH + GATEWAY + BOUND, 'mesh.yaml');
  assert.deepEqual(
    config.gateway!.routes.map(({ hosts, path, service }) => ({ hosts, path, service })),
    [
      { hosts: ['shop.example.com'], path: { prefix: '/api/' }, service: 'shop' },
      { hosts: ['shop.example.com'], path: { exact: '/cart' }, service: 'shop' },
    ],
  );
  assert.equal(config.virtualServiceRoutes, undefined);
  assert.equal(config.services.shop!.policy.routes, undefined);
});

test('a VirtualService bound to both the mesh and the Gateway routes both', () => {
  const config = parseMeshConfig(MESH + GATEWAY + BOUND.replace('gateways: [edge]', 'gateways: [mesh, shop/edge]'), 'mesh.yaml');
  assert.equal(config.gateway!.routes.length, 2);
  assert.deepEqual(Object.keys(config.virtualServiceRoutes ?? {}), ['shop']);
  assert.equal(config.services.shop!.policy.routes?.length, 1);
});

test('a VirtualService naming a gateway the file does not have is refused where it names it', () => {
  assert.throws(
    () => parseMeshConfig(MESH + GATEWAY + BOUND.replace('gateways: [edge]', 'gateways: [ingress]'), 'mesh.yaml'),
    (err: Error) => /mesh\.yaml:\d+:\d+: VirtualService "shop-edge" spec\.gateways: no kind: Gateway named "ingress" in this config \(the Gateway here is "shop\/edge"\)/.test(err.message),
  );
  assert.throws(
    () => parseMeshConfig(MESH + BOUND, 'mesh.yaml'),
    (err: Error) => /spec\.gateways: no kind: Gateway named "edge" in this config$/m.test(err.message),
  );
});

test('a VirtualService bound only to the gateway refuses what only the mesh would apply (a timeout, retries)', () => {
  const withTimeout = BOUND.replace('      route: [{ destination', '      timeout: 2s\n      route: [{ destination');
  assert.throws(
    () => parseMeshConfig(MESH + GATEWAY + withTimeout, 'mesh.yaml'),
    (err: Error) => /mesh\.yaml:\d+:\d+: VirtualService "shop-edge" spec\.http\[0\]\.timeout: a VirtualService bound only to a gateway/.test(err.message),
  );
  assert.doesNotThrow(() => parseMeshConfig(MESH + GATEWAY + withTimeout.replace('gateways: [edge]', 'gateways: [mesh, edge]'), 'mesh.yaml'));
});

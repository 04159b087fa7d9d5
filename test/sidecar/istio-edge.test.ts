/**
 * Istio's Gateway and ServiceEntry documents run by the real mesh-sidecar: the Gateway's server
 * certificate served over TLS to curl (its port moved by --gateway), the VirtualService bound to it
 * through `gateways:` routing its host to a mesh service, and a ServiceEntry's STATIC endpoint
 * reached through the outbound port while other hosts are refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { writeServerCertificate } from '../helpers/server-certificate.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);
let dir: string;
let partner: TestBackend;
let shop: TestBackend;
let sidecar: SidecarProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-istio-edge-'));
  partner = await startBackend('partner');
  shop = await startBackend('shop');
  const cert = await writeServerCertificate(dir, 'shop', 'shop.example.test', ['shop.example.test']);
  sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    shop: { endpoints: ["${shop.address}"] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-edge }
spec:
  hosts: [shop.example.test]
  gateways: [edge]
  http:
    - match: [{ uri: { prefix: /api/ } }]
      route: [{ destination: { host: shop.default.svc.cluster.local } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: [shop.example.test]
      tls: { mode: SIMPLE, serverCertificate: "${cert.certFile}", privateKey: "${cert.keyFile}" }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner }
spec:
  hosts: [partner.example.test]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1, ports: { http: ${partner.port} } }]
`,
    ['--gateway', '127.0.0.1:0'],
  );
});

after(async () => {
  await sidecar?.stop();
  await partner?.stop();
  await shop?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a Gateway\'s server certificate is served over TLS on the port --gateway gives, and the VirtualService bound to it routes its host to the mesh service', async () => {
  const ready = sidecar.logs.find((l) => l.msg === 'mesh-sidecar ready')!;
  const port = String(ready.gatewayHttps).split(':').pop();
  const curl = (path: string) => run('curl', ['-sS', '--cacert', join(dir, 'shop.crt'), '--resolve', `shop.example.test:${port}:127.0.0.1`, '-D', '-', `https://shop.example.test:${port}${path}`]);
  const routed = await curl('/api/cart');
  assert.match(routed.stdout, /^HTTP\/2 200/);
  assert.equal((JSON.parse(routed.stdout.slice(routed.stdout.indexOf('\r\n\r\n') + 4)) as { backend: string }).backend, 'shop');
  const unrouted = await curl('/admin');
  assert.match(unrouted.stdout, /^HTTP\/2 404/);
  assert.match(unrouted.stdout, /x-meshwork-error: NO_ROUTE/);
});

test('a ServiceEntry lets the app reach its host through the outbound port; other hosts are refused', async () => {
  const allowed = await run('curl', ['-sS', '-x', `http://${sidecar.outbound}`, 'http://partner.example.test/quote']);
  assert.equal((JSON.parse(allowed.stdout) as { backend: string }).backend, 'partner');
  const denied = await run('curl', ['-sS', '-x', `http://${sidecar.outbound}`, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${partner.port}/`]);
  assert.equal(denied.stdout, '403');
});

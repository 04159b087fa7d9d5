/**
 * Istio's Gateway and ServiceEntry documents run by the real mesh-sidecar: the Gateway's server
 * certificate served over TLS to curl (its port moved by --gateway), and a ServiceEntry's STATIC
 * endpoint reached through the outbound port while other hosts are refused.
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
let sidecar: SidecarProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-istio-edge-'));
  partner = await startBackend('partner');
  const cert = await writeServerCertificate(dir, 'shop', 'shop.example.test', ['shop.example.test']);
  sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services: {}
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
  rmSync(dir, { recursive: true, force: true });
});

test('a Gateway\'s server certificate is served over TLS on the port --gateway gives; with no VirtualService bound, every host is unknown', async () => {
  const ready = sidecar.logs.find((l) => l.msg === 'mesh-sidecar ready')!;
  const port = String(ready.gatewayHttps).split(':').pop();
  const { stdout } = await run('curl', ['-sS', '--cacert', join(dir, 'shop.crt'), '--resolve', `shop.example.test:${port}:127.0.0.1`, '-D', '-', `https://shop.example.test:${port}/`]);
  assert.match(stdout, /^HTTP\/2 404/);
  assert.match(stdout, /x-meshwork-error: UNKNOWN_HOST/);
});

test('a ServiceEntry lets the app reach its host through the outbound port; other hosts are refused', async () => {
  const allowed = await run('curl', ['-sS', '-x', `http://${sidecar.outbound}`, 'http://partner.example.test/quote']);
  assert.equal((JSON.parse(allowed.stdout) as { backend: string }).backend, 'partner');
  const denied = await run('curl', ['-sS', '-x', `http://${sidecar.outbound}`, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${partner.port}/`]);
  assert.equal(denied.stdout, '403');
});

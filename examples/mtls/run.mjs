// mTLS between two sidecars, step by step, on loopback: `node examples/mtls/run.mjs`.
// A plaintext app ("web") calls another plaintext app ("api"); their sidecars encrypt the hop with
// mutual TLS, prove SPIFFE identities, and api's sidecar lets only web call GET /hello.
// Plain JavaScript that drives the real `mesh-sidecar` binary, as a platform team would.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SIDECAR = fileURLToPath(new URL('../../dist/sidecar-mode/main.js', import.meta.url));
const WEB = 'spiffe://demo.local/ns/default/sa/web';
const API = 'spiffe://demo.local/ns/default/sa/api';
const dir = mkdtempSync(join(tmpdir(), 'meshwork-mtls-example-'));
const children = [];

function sidecarCli(...args) {
  const result = spawnSync(process.execPath, [SIDECAR, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`mesh-sidecar ${args.join(' ')} failed:\n${result.stderr}`);
}

function startSidecar(name, config, args) {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, config);
  const child = spawn(process.execPath, [SIDECAR, '--config', path, '--admin', 'none', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      const entry = JSON.parse(line);
      if (entry.msg === 'mesh-sidecar ready') resolve(entry);
      else if (entry.level === 'warn' || entry.level === 'error') console.log(`  [${name} sidecar] ${entry.msg}`);
    });
    child.once('exit', (code) => reject(new Error(`${name}'s sidecar exited with ${code}`)));
  });
}

const identity = (who) => `  identity: { certFile: ${join(dir, who, 'tls.crt')}, keyFile: ${join(dir, who, 'tls.key')}, trustAnchorsFile: ${join(dir, who, 'ca.crt')} }\n`;

try {
  console.log('1. A CA for the trust domain demo.local, and a 24 h certificate for each app:');
  sidecarCli('identity', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'demo.local');
  sidecarCli('identity', 'issue', '--ca', join(dir, 'ca'), '--name', WEB, '--out', join(dir, 'web'));
  sidecarCli('identity', 'issue', '--ca', join(dir, 'ca'), '--name', API, '--out', join(dir, 'api'));
  console.log(`   ${WEB}\n   ${API}`);

  // The api app itself speaks plaintext HTTP and reads who called it from its sidecar's header.
  const api = createServer((req, res) => res.end(`api says hello to ${req.headers['x-meshwork-client-id'] ?? 'an unknown caller'}\n`));
  await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));

  console.log("2. api's sidecar: inbound requires mTLS and only web may GET /hello.");
  const apiSidecar = await startSidecar(
    'api',
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identity('api')}  sidecar:
    inboundTls: strict
    authorization:
      - { name: web may say hello, from: ["${WEB}"], routes: [{ method: GET, pathRegex: /hello }] }
  services: {}
`,
    ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', `127.0.0.1:${api.address().port}`],
  );

  console.log("3. web's sidecar: calls to api go over mTLS, and api must prove its identity.");
  const webSidecar = await startSidecar(
    'web',
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identity('web')}  services:
    api:
      endpoints: ["${apiSidecar.inbound}"]
      tls: { identity: "${API}" }
`,
    ['--outbound', '127.0.0.1:0', '--inbound', 'none'],
  );

  // node:http rather than fetch: fetch does not let a caller choose the Host header, which names the service.
  const call = (label, address, method) =>
    new Promise((resolve, reject) => {
      const [host, port] = address.split(':');
      const req = request({ host, port, method, path: '/hello', headers: { host: 'api' } }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => {
          console.log(`   ${label.padEnd(48)} → ${res.statusCode} ${res.headers['x-meshwork-error'] ?? ''} ${body.trim().split('\n')[0]}`);
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
  console.log('4. What web (a plaintext app) sees through its sidecar, and what an outsider sees:');
  await call('web: GET /hello (via its sidecar)', webSidecar.outbound, 'GET');
  await call('web: POST /hello (not allowed)', webSidecar.outbound, 'POST');
  await call("outsider: plaintext straight to api's sidecar", apiSidecar.inbound, 'GET');
  api.close();
} finally {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

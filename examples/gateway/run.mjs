// The gateway, step by step, on loopback: `node examples/gateway/run.mjs`.
// Two plaintext apps ("shop" and "api") behind one mesh-sidecar in gateway mode: HTTPS with a
// certificate per host chosen by SNI, plain HTTP redirected to HTTPS, routes by host and path, and
// the service's stack (retries) on the way. Plain JavaScript that drives the real `mesh-sidecar`
// binary, and curl as the client from outside the mesh.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SIDECAR = fileURLToPath(new URL('../../dist/sidecar-mode/main.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('./gateway.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'meshwork-gateway-example-'));
let gateway;
// Asynchronous: the apps answer from this same process while curl waits.
const run = async (...args) => (await promisify(execFile)(...args, { encoding: 'utf8' })).stdout;

function sidecarCli(...args) {
  const result = spawnSync(process.execPath, [SIDECAR, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`mesh-sidecar ${args.join(' ')} failed:\n${result.stderr}`);
}

async function startApp(name, failFirst = 0) {
  let failures = failFirst;
  const server = createServer((req, res) => {
    if (failures > 0) {
      failures--;
      res.writeHead(503).end(`${name} is warming up\n`);
      return;
    }
    res.end(`${name} served ${req.method} ${req.url} for ${req.headers['x-forwarded-host']} (${req.headers['x-forwarded-proto']}, from ${req.headers['x-forwarded-for']})\n`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  writeFileSync(join(dir, 'endpoints', `${name}.json`), JSON.stringify([`127.0.0.1:${server.address().port}`]));
  return server;
}

function startGateway() {
  gateway = spawn(process.execPath, [SIDECAR, '--config', join(dir, 'gateway.yaml'), '--outbound', 'none', '--inbound', 'none', '--admin', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: gateway.stderr }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return console.log(`  [gateway] ${line}`);
      }
      if (entry.msg === 'mesh-sidecar ready') resolve(entry);
      else if (entry.level === 'warn' || entry.level === 'error') console.log(`  [gateway] ${entry.msg}`);
    });
    gateway.once('exit', (code) => reject(new Error(`the gateway exited with ${code}`)));
  });
}

try {
  console.log('1. A CA and a certificate for each public host (mesh-sidecar identity; any PEM certificate and key will do):');
  sidecarCli('identity', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'demo.local');
  sidecarCli('identity', 'issue', '--ca', join(dir, 'ca'), '--name', 'spiffe://demo.local/ns/edge/sa/shop', '--dns', 'shop.example.test', '--out', join(dir, 'certs', 'shop'));
  sidecarCli('identity', 'issue', '--ca', join(dir, 'ca'), '--name', 'spiffe://demo.local/ns/edge/sa/api', '--dns', 'api.example.test', '--dns', '*.api.example.test', '--out', join(dir, 'certs', 'api'));
  console.log('   shop.example.test; api.example.test and *.api.example.test');

  console.log('2. The apps: plaintext HTTP on loopback (api answers 503 once, as if warming up).');
  mkdirSync(join(dir, 'endpoints'));
  const apps = [await startApp('shop'), await startApp('api', 1)];
  copyFileSync(CONFIG, join(dir, 'gateway.yaml'));

  console.log('3. The gateway (examples/gateway/gateway.yaml):');
  const ready = await startGateway();
  const https = ready.gatewayHttps.split(':').pop();
  const http = ready.gatewayHttp.split(':').pop();
  console.log(`   https on ${ready.gatewayHttps}, http on ${ready.gatewayHttp}`);

  const hosts = ['shop.example.test', 'api.example.test', 'v2.api.example.test', 'nobody.example.test'];
  const resolve = hosts.flatMap((h) => ['--resolve', `${h}:${https}:127.0.0.1`, '--resolve', `${h}:${http}:127.0.0.1`]);
  const curl = async (label, url, ...extra) => {
    const out = await run('curl', ['-sS', '--cacert', join(dir, 'ca', 'ca.crt'), ...resolve, '-D', '-', ...extra, url]);
    // With -L there is a head per response; the last one is what the client ends up with.
    const parts = out.split('\r\n\r\n');
    const last = parts.findLastIndex((part) => part.startsWith('HTTP/'));
    const head = parts[last];
    const body = parts.slice(last + 1).join('\r\n\r\n');
    const status = head.split(' ')[1];
    const error = /^x-meshwork-error: (.*)$/im.exec(head)?.[1]?.trim() ?? '';
    const location = /^location: (.*)$/im.exec(head)?.[1]?.trim();
    console.log(`   ${label.padEnd(52)} → ${status} ${error ? `${error} ` : ''}${location ? `Location: ${location}` : body.trim().split('\n')[0]}`);
  };
  console.log('4. What a client outside the mesh sees (curl, verifying each certificate against the CA):');
  await curl('GET https://shop.example.test/checkout', `https://shop.example.test:${https}/checkout`);
  await curl('GET https://v2.api.example.test/v2/items (retried)', `https://v2.api.example.test:${https}/v2/items?page=1`);
  await curl('GET http://shop.example.test/pages/about', `http://shop.example.test:${http}/pages/about?lang=en`);
  await curl('the same with curl -L (follows the redirect)', `http://shop.example.test:${http}/pages/about?lang=en`, '-L');
  await curl('GET https://shop.example.test/admin (no route)', `https://shop.example.test:${https}/admin`);
  await curl('GET https://nobody.example.test/ (unknown host)', `https://shop.example.test:${https}/`, '-H', 'Host: nobody.example.test');
  await curl('SNI shop.example.test, Host api.example.test', `https://shop.example.test:${https}/v1/x`, '-H', 'Host: api.example.test');
  const metrics = await run('curl', ['-sS', `http://${ready.admin}/metrics`]);
  const retries = /^meshwork_retries_total\{authority="api"\} (\d+)/m.exec(metrics)?.[1] ?? '0';
  console.log(`5. The gateway's metrics: retries of api = ${retries}; ${metrics.split('\n').filter((l) => l.startsWith('request_total{direction="gateway"')).join('; ')}`);
  for (const app of apps) app.close();
} finally {
  gateway?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

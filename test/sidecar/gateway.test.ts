/**
 * Gateway mode end to end: the real mesh-sidecar binary with spec.gateway, driven by curl over TLS
 * (--resolve for the hosts, each certificate checked by its subject and verified against its own
 * self-signed certificate), real node:http backends behind it, and a backend sidecar reached over mTLS.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { connect as tlsConnect } from 'node:tls';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { writeServerCertificate } from '../helpers/server-certificate.js';
import { metricValue, runSidecarCli, startSidecarProcess, writeConfig, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);
const TD = 'cluster.local';
const GATEWAY_ID = `spiffe://${TD}/ns/edge/sa/gateway`;
const SECURE_ID = `spiffe://${TD}/ns/shop/sa/secure`;

let dir: string;
let shop: TestBackend;
let api: TestBackend;
let secureApp: TestBackend;
let secureSidecar: SidecarProcess;
let gateway: SidecarProcess;
let httpsPort: number;
let httpPort: number;
let gatewayConfig: string;
let gatewayIdentity: { certFile: string; keyFile: string; caFile: string };

/** A self-signed certificate for `cn` and the DNS names, written as <name>.crt / <name>.key. */
const selfSigned = (name: string, cn: string, dnsNames: string[]) => writeServerCertificate(dir, name, cn, dnsNames);

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  verbose: string;
}

/** curl against the gateway, with every host resolved to 127.0.0.1 on both gateway ports. */
async function curl(url: string, extra: string[] = []): Promise<CurlResult> {
  const hosts = ['shop.example.test', 'api.example.test', 'v1.api.example.test', 'nobody.example.test', 'SHOP.EXAMPLE.TEST'];
  const resolve = hosts.flatMap((h) => [`--resolve`, `${h}:${httpsPort}:127.0.0.1`, '--resolve', `${h}:${httpPort}:127.0.0.1`]);
  const { stdout, stderr } = await run('curl', ['-sS', '-v', '--cacert', join(dir, 'bundle.pem'), ...resolve, '-D', '-', ...extra, url], { maxBuffer: 1 << 20 });
  const [head, ...rest] = stdout.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), verbose: stderr };
}

const subjectOf = (verbose: string) => /subject: (.*)/.exec(verbose)?.[1]?.trim();
const backendSaw = (body: string) => JSON.parse(body) as { backend: string; path: string; headers: Record<string, string> };

function readyField(sidecar: SidecarProcess, field: string): string {
  const ready = sidecar.logs.find((l) => l.msg === 'mesh-sidecar ready')!;
  return ready[field] as string;
}

/** Resolves when the sidecar logs a line with this message (it has happened, not a timing guess). */
function logged(sidecar: SidecarProcess, msg: string, after = 0): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const check = () => {
      const found = sidecar.logs.slice(after).find((l) => l.msg === msg);
      if (found) {
        sidecar.child.stderr!.off('data', onData);
        resolve(found);
      }
    };
    const onData = () => setImmediate(check);
    sidecar.child.stderr!.on('data', onData);
    check();
  });
}

function gatewayYaml(options: { identity?: { certFile: string; keyFile: string; caFile: string } } = {}): string {
  return `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${options.identity ? `  identity: { certFile: "${options.identity.certFile}", keyFile: "${options.identity.keyFile}", trustAnchorsFile: "${options.identity.caFile}" }\n` : ''}  services:
    shop: { endpoints: ["${shop.address}"] }
    api: { endpoints: ["${api.address}"] }
    secure:
      endpoints: ["${secureSidecar.inbound}"]
      tls: { identity: "${SECURE_ID}" }
  gateway:
    https: 127.0.0.1:0
    http: 127.0.0.1:0
    certificates:
      - { hosts: [shop.example.test], certFile: "${join(dir, 'shop.crt')}", keyFile: "${join(dir, 'shop.key')}" }
      - { hosts: [api.example.test, "*.api.example.test"], certFile: "${join(dir, 'api.crt')}", keyFile: "${join(dir, 'api.key')}" }
    routes:
      - { name: secure, hosts: [shop.example.test], path: { prefix: /secure/ }, service: secure }
      - { name: checkout, hosts: [shop.example.test], path: { exact: /checkout }, service: shop }
      - { name: api-v, hosts: [api.example.test, "*.api.example.test"], path: { regex: "/v[0-9]+/.*" }, service: api }
`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-gateway-'));
  await selfSigned('shop', 'shop.example.test', ['shop.example.test']);
  await selfSigned('api', 'api.example.test', ['api.example.test', '*.api.example.test']);
  writeFileSync(join(dir, 'bundle.pem'), readFileSync(join(dir, 'shop.crt'), 'utf8') + readFileSync(join(dir, 'api.crt'), 'utf8'));
  shop = await startBackend('shop');
  api = await startBackend('api');
  secureApp = await startBackend('secure');

  const ca = await createAuthority({ trustDomain: TD });
  const gatewayFiles = await writeLeaf(join(dir, 'gateway-id'), await issueLeaf(ca, GATEWAY_ID), ca.root.certPem);
  const secureFiles = await writeLeaf(join(dir, 'secure-id'), await issueLeaf(ca, SECURE_ID), ca.root.certPem);
  secureSidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  identity: { certFile: "${secureFiles.certFile}", keyFile: "${secureFiles.keyFile}", trustAnchorsFile: "${secureFiles.caFile}" }
  sidecar: { inboundTls: strict }
  services: {}
`,
    ['--inbound', '127.0.0.1:0', '--app', secureApp.address],
  );
  gatewayIdentity = gatewayFiles;
  gatewayConfig = writeConfig(gatewayYaml({ identity: gatewayFiles }), mkdtempSync(join(dir, 'config-')));
  gateway = await startSidecarProcess(gatewayYaml({ identity: gatewayFiles }), [], { config: gatewayConfig });
  httpsPort = Number(readyField(gateway, 'gatewayHttps').split(':').pop());
  httpPort = Number(readyField(gateway, 'gatewayHttp').split(':').pop());
});

after(async () => {
  await Promise.all([gateway?.stop(), secureSidecar?.stop()]);
  await Promise.all([shop?.stop(), api?.stop(), secureApp?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

test('each host gets its own certificate by SNI, verified by curl, and is routed by host and path to its service', async () => {
  const toShop = await curl(`https://shop.example.test:${httpsPort}/checkout`);
  assert.equal(toShop.status, 200, toShop.body);
  assert.equal(subjectOf(toShop.verbose), 'CN=shop.example.test');
  assert.equal(backendSaw(toShop.body).backend, 'shop');

  const toApi = await curl(`https://api.example.test:${httpsPort}/v2/items?page=3`);
  assert.equal(toApi.status, 200, toApi.body);
  assert.equal(subjectOf(toApi.verbose), 'CN=api.example.test');
  assert.equal(backendSaw(toApi.body).path, '/v2/items?page=3');

  // A wildcard host: the wildcard certificate and the wildcard route.
  const wildcard = await curl(`https://v1.api.example.test:${httpsPort}/v1/x`);
  assert.equal(wildcard.status, 200, wildcard.body);
  assert.equal(subjectOf(wildcard.verbose), 'CN=api.example.test');
  assert.equal(backendSaw(wildcard.body).backend, 'api');
});

test('the edge replaces what the caller says about itself: Host, X-Forwarded-*, x-meshwork-client-id and x-meshwork-deadline-ms', async () => {
  // HTTP/1.1 (headers read from the raw list) and HTTP/2 (from the header object) alike.
  for (const protocol of ['--http1.1', '--http2']) {
    const res = await curl(`https://shop.example.test:${httpsPort}/checkout`, [
      protocol,
      '-H', 'x-forwarded-for: 6.6.6.6', '-H', 'x-forwarded-proto: http', '-H', 'x-forwarded-host: evil.example', '-H', 'x-meshwork-client-id: spiffe://cluster.local/ns/admin/sa/root',
      '-H', 'x-meshwork-deadline-ms: 1',
    ]);
    assert.equal(res.status, 200, res.body);
    const seen = backendSaw(res.body).headers;
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'https');
    assert.equal(seen['x-forwarded-host'], 'shop.example.test');
    assert.equal(seen.host, 'shop.example.test');
    assert.equal(seen['x-meshwork-client-id'], undefined);
    // A deadline in the mesh's header from outside is not honoured (it would have failed the call) nor passed on.
    assert.equal(seen['x-meshwork-deadline-ms'], undefined);
  }
});

test('plain HTTP is redirected to HTTPS with 308, path and query kept; curl -L follows it to the service', async () => {
  const res = await curl(`http://shop.example.test:${httpPort}/checkout?step=2&x=%2F`);
  assert.equal(res.status, 308);
  assert.equal(res.headers.location, `https://shop.example.test:${httpsPort}/checkout?step=2&x=%2F`);
  const followed = await curl(`http://shop.example.test:${httpPort}/checkout?step=2`, ['-L', '-X', 'POST', '--data', 'order']);
  assert.equal(followed.status, 308);
  const final = followed.body.split('\r\n\r\n').pop()!;
  assert.equal((JSON.parse(final) as { method: string }).method, 'POST', 'a 308 keeps the method');
  // A host the gateway does not serve is not redirected anywhere.
  const unknown = await curl(`http://nobody.example.test:${httpPort}/`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.headers['x-meshwork-error'], 'UNKNOWN_HOST');
});

test('an unknown host and a path no route matches get 404 with x-meshwork-error', async () => {
  const unknown = await curl(`https://shop.example.test:${httpsPort}/checkout`, ['-H', 'Host: nobody.example.test']);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.headers['x-meshwork-error'], 'UNKNOWN_HOST');
  const noRoute = await curl(`https://shop.example.test:${httpsPort}/checkout/other`);
  assert.equal(noRoute.status, 404);
  assert.equal(noRoute.headers['x-meshwork-error'], 'NO_ROUTE');
  const regexMiss = await curl(`https://api.example.test:${httpsPort}/vX/items`);
  assert.equal(regexMiss.headers['x-meshwork-error'], 'NO_ROUTE');
});

test('requests go through the service stack: a flaky backend is retried, and metrics count direction="gateway"', async () => {
  const before = metricValue(await gateway.metrics(), 'meshwork_retries_total', { authority: 'shop' });
  const hits = shop.hits;
  shop.behaviour.script = [503];
  const res = await curl(`https://shop.example.test:${httpsPort}/checkout`);
  assert.equal(res.status, 200, res.body);
  assert.equal(shop.hits - hits, 2);
  const text = await gateway.metrics();
  assert.equal(metricValue(text, 'meshwork_retries_total', { authority: 'shop' }) - before, 1);
  assert.ok(metricValue(text, 'request_total', { direction: 'gateway', authority: 'shop', route: 'default' }) >= 1, text);
});

test('a meshed service is called over mTLS: its app sees the gateway\'s verified identity', async () => {
  const res = await curl(`https://shop.example.test:${httpsPort}/secure/page`, ['-H', `x-meshwork-client-id: ${SECURE_ID}`]);
  assert.equal(res.status, 200, res.body);
  const seen = backendSaw(res.body);
  assert.equal(seen.backend, 'secure');
  assert.equal(seen.headers['x-meshwork-client-id'], GATEWAY_ID);
});

test('attacker: SNI for one host and Host for another is refused with 421, as is an absolute URI for another host', async () => {
  const crossed = await curl(`https://shop.example.test:${httpsPort}/v1/x`, ['-H', 'Host: api.example.test']);
  assert.equal(crossed.status, 421);
  assert.equal(crossed.headers['x-meshwork-error'], 'MISDIRECTED_REQUEST');
  const absolute = await curl(`https://shop.example.test:${httpsPort}/`, ['--http1.1', '--request-target', 'https://api.example.test/v1/x']);
  assert.equal(absolute.status, 421);
  // An absolute URI names the host itself and the Host header is ignored (RFC 9112 §3.2.2).
  const absoluteOwn = await curl(`https://shop.example.test:${httpsPort}/`, ['--http1.1', '--request-target', 'https://shop.example.test/checkout', '-H', 'Host: api.example.test']);
  assert.equal(absoluteOwn.status, 200, absoluteOwn.body);
  assert.equal(backendSaw(absoluteOwn.body).headers.host, 'shop.example.test');
  const wrongScheme = await curl(`https://shop.example.test:${httpsPort}/`, ['--http1.1', '--request-target', 'http://shop.example.test/checkout']);
  assert.equal(wrongScheme.status, 400);
});

test('attacker: a Host with a port, in upper case or with a trailing dot reaches the same route; a malformed one is refused', async () => {
  for (const host of [`shop.example.test:${httpsPort}`, 'SHOP.Example.TEST', 'shop.example.test.', `shop.example.test.:${httpsPort}`]) {
    for (const protocol of ['--http1.1', '--http2']) {
      const res = await curl(`https://shop.example.test:${httpsPort}/checkout`, [protocol, '-H', `Host: ${host}`]);
      assert.equal(res.status, 200, `${host} ${protocol}: ${res.body}`);
      assert.equal(backendSaw(res.body).backend, 'shop');
    }
  }
  for (const host of ['shop.example.test:abc', 'shop_example.test', 'shop..example.test']) {
    for (const protocol of ['--http1.1', '--http2']) {
      const res = await curl(`https://shop.example.test:${httpsPort}/checkout`, [protocol, '-H', `Host: ${host}`]);
      assert.equal(res.status, 400, `${host} ${protocol}`);
    }
  }
  // Plaintext on the HTTPS port is not served.
  const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${httpsPort}/checkout`, '-H', 'Host: shop.example.test']);
  assert.equal(plain.stdout, '403');
});

test('a certificate rewritten on disk is served to new connections; a bad rewrite keeps the last good one', async () => {
  const at = gateway.logs.length;
  await selfSigned('shop-next', 'shop.example.test rotated', ['shop.example.test']);
  writeFileSync(join(dir, 'bundle.pem'), readFileSync(join(dir, 'shop-next.crt'), 'utf8') + readFileSync(join(dir, 'api.crt'), 'utf8'));
  // Key first, then certificate: the check between the two writes sees a mismatch and keeps the old pair.
  writeFileSync(join(dir, 'shop.key'), readFileSync(join(dir, 'shop-next.key')));
  writeFileSync(join(dir, 'shop.crt'), readFileSync(join(dir, 'shop-next.crt')));
  const reloaded = await logged(gateway, 'gateway certificate reloaded', at);
  assert.deepEqual(reloaded.hosts, ['shop.example.test']);
  const rotated = await curl(`https://shop.example.test:${httpsPort}/checkout`);
  assert.equal(rotated.status, 200, rotated.body);
  assert.equal(subjectOf(rotated.verbose), 'CN=shop.example.test rotated');

  const bad = gateway.logs.length;
  writeFileSync(join(dir, 'shop.crt'), 'not a certificate\n');
  const refused = await logged(gateway, 'a gateway certificate changed but cannot be used; keeping the last good one', bad);
  assert.match(String(refused.error), /spec\.gateway\.certificates\[0\]\.certFile: .*shop\.crt is not a PEM certificate/);
  const still = await curl(`https://shop.example.test:${httpsPort}/checkout`);
  assert.equal(still.status, 200);
  assert.equal(subjectOf(still.verbose), 'CN=shop.example.test rotated');
});

test('a bad certificate config is refused at start with file, line and field', async () => {
  const configDir = mkdtempSync(join(dir, 'bad-'));
  const yaml = (certFile: string, keyFile: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: edge }
spec:
  services:
    shop: { endpoints: ["${shop.address}"] }
  gateway:
    https: 127.0.0.1:0
    certificates:
      - hosts: [shop.example.test]
        certFile: ${certFile}
        keyFile: ${keyFile}
    routes:
      - { hosts: [shop.example.test], service: shop }
`;
  const missing = writeConfig(yaml(join(dir, 'shop-next.crt'), 'missing.key'), configDir);
  const r1 = runSidecarCli(['--config', missing, '--outbound', 'none', '--admin', 'none']);
  assert.equal(r1.status, 2);
  assert.match(r1.stderr, /mesh\.yaml:12:18: Mesh "edge" spec\.gateway\.certificates\[0\]\.keyFile: cannot read the key .*missing\.key \(ENOENT\)/);
  const mismatched = writeConfig(yaml(join(dir, 'api.crt'), join(dir, 'shop-next.key')), configDir);
  const r2 = runSidecarCli(['--config', mismatched, '--outbound', 'none', '--admin', 'none']);
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /mesh\.yaml:12:18: Mesh "edge" spec\.gateway\.certificates\[0\]\.keyFile: the key in .*shop-next\.key does not belong to the certificate in .*api\.crt/);
});

test('HTTP/2 over TLS: the same routing, and a second host on a connection set up for the first is refused', async () => {
  const res = await curl(`https://shop.example.test:${httpsPort}/checkout`, ['--http2']);
  assert.equal(res.status, 200, res.body);
  assert.match(res.verbose, /ALPN: server accepted h2/);
  // Node's TLS socket: the SNI decides the certificate even without HTTP.
  const socket = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername: 'v1.api.example.test', ca: readFileSync(join(dir, 'bundle.pem')) });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  assert.equal(socket.getPeerCertificate().subject.CN, 'api.example.test');
  socket.destroy();
});

test('the command-line views show the gateway\'s calls as gateway/<service>', async () => {
  await curl(`https://shop.example.test:${httpsPort}/checkout`);
  const stat = runSidecarCli(['stat', '--direction', 'gateway', '--admin', gateway.admin, '-o', 'json']);
  assert.equal(stat.status, 0, stat.stderr);
  const services = (JSON.parse(stat.stdout) as { services: { direction: string; name: string }[] }).services;
  assert.ok(services.some((s) => s.direction === 'gateway' && s.name === 'shop'), stat.stdout);
  assert.ok(services.every((s) => s.direction === 'gateway'), stat.stdout);
});

test('routes follow a config reload', async () => {
  const before = await curl(`https://shop.example.test:${httpsPort}/new/page`);
  assert.equal(before.headers['x-meshwork-error'], 'NO_ROUTE');
  const at = gateway.logs.length;
  writeFileSync(gatewayConfig, gatewayYaml({ identity: gatewayIdentity }) + '      - { name: new, hosts: [shop.example.test], path: { prefix: /new/ }, service: shop }\n');
  await logged(gateway, 'config reloaded', at);
  const after = await curl(`https://shop.example.test:${httpsPort}/new/page`);
  assert.equal(after.status, 200, after.body);
  assert.equal(backendSaw(after.body).backend, 'shop');
  const restartWarning = "the gateway's listeners or certificate list changed in the config; routes apply now, the rest after a restart";
  assert.equal(gateway.logs.slice(at).some((l) => l.msg === restartWarning), false, 'a change of routes alone needs no restart');
  // A listener change is reported as needing a restart, and the listener keeps running.
  const again = gateway.logs.length;
  writeFileSync(gatewayConfig, gatewayYaml({ identity: gatewayIdentity }).replace('http: 127.0.0.1:0', 'http: 127.0.0.1:1'));
  await logged(gateway, restartWarning, again);
  assert.equal((await curl(`http://shop.example.test:${httpPort}/checkout`)).status, 308);
});

test('a reload that drops spec.gateway and a service keeps the last routes; a route to the removed service answers 502 UNKNOWN_SERVICE', async () => {
  const at = gateway.logs.length;
  const withoutGateway = gatewayYaml({ identity: gatewayIdentity }).replace(/ {2}gateway:[\s\S]*$/, '').replace(/ {4}shop: .*\n/, '');
  writeFileSync(gatewayConfig, withoutGateway);
  await logged(gateway, 'config reloaded', at);
  const res = await curl(`https://shop.example.test:${httpsPort}/checkout`);
  assert.equal(res.status, 502, res.body);
  assert.equal(res.headers['x-meshwork-error'], 'UNKNOWN_SERVICE');
  assert.equal((await curl(`https://api.example.test:${httpsPort}/v1/x`)).status, 200);
});

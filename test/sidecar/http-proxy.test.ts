/**
 * mesh-sidecar's outbound and inbound paths over HTTP/1.1 and h2c, driven by real clients: curl
 * (Host header, proxy mode, HTTP/2 prior knowledge) and python3's urllib through HTTP_PROXY.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue, startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);
const curl = async (...args: string[]) => (await run('curl', ['-sS', '--max-time', '10', ...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' })).stdout;
const curlJson = async (...args: string[]) => JSON.parse((await curl(...args)).toString()) as { backend: string; path: string; method: string; headers: Record<string, string> };

let words: TestBackend;
let app: TestBackend;
let blob: Server;
let blobSha = '';
let sidecar: SidecarProcess;

before(async () => {
  words = await startBackend('words');
  app = await startBackend('app');
  // A 4 MiB response written in pieces, and an upload counter: streams in both directions.
  const payload = Buffer.alloc(4 * 1024 * 1024, 'meshwork');
  blobSha = createHash('sha256').update(payload).digest('hex');
  blob = createServer((req, res) => {
    if (req.method === 'POST') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha: hash.digest('hex') })));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (let i = 0; i < payload.length; i += 65_536) res.write(payload.subarray(i, i + 65_536));
    res.end();
  });
  await new Promise<void>((resolve) => blob.listen(0, '127.0.0.1', resolve));
  sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    words:
      endpoints: ["${words.address}"]
    blob:
      endpoints: ["127.0.0.1:${(blob.address() as AddressInfo).port}"]
`,
    ['--inbound', '127.0.0.1:0', '--app', app.address],
  );
});

after(async () => {
  await sidecar?.stop();
  await words?.stop();
  await app?.stop();
  blob?.close();
});

test('curl with a Host header naming the service reaches it through the outbound port', async () => {
  const before = words.hits;
  const body = await curlJson('-H', 'Host: words', `http://${sidecar.outbound}/hello?lang=en`);
  assert.equal(body.backend, 'words');
  assert.equal(body.path, '/hello?lang=en');
  assert.equal(body.headers.host, 'words');
  assert.equal(body.headers['x-forwarded-proto'], 'http');
  assert.equal(body.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(words.hits, before + 1);
});

test('a Kubernetes-style name and a port still name the service', async () => {
  const body = await curlJson('-H', 'Host: words.default.svc.cluster.local:8080', `http://${sidecar.outbound}/k8s`);
  assert.equal(body.backend, 'words');
  assert.equal(body.headers.host, 'words.default.svc.cluster.local:8080');
});

test('curl in proxy mode (-x) sends the absolute URI, and the service still gets a plain path', async () => {
  const body = await curlJson('-x', `http://${sidecar.outbound}`, 'http://words/via-proxy?q=1');
  assert.equal(body.backend, 'words');
  assert.equal(body.path, '/via-proxy?q=1');
});

test('python3 urllib with HTTP_PROXY goes through the sidecar', async () => {
  const script = 'import json, urllib.request\nwith urllib.request.urlopen("http://words/from-python", timeout=10) as r:\n    print(json.dumps({"status": r.status, "body": json.loads(r.read())}))\n';
  const { stdout } = await run('python3', ['-c', script], { env: { ...process.env, HTTP_PROXY: `http://${sidecar.outbound}`, http_proxy: `http://${sidecar.outbound}`, NO_PROXY: '', no_proxy: '' } });
  const result = JSON.parse(stdout) as { status: number; body: { backend: string; path: string } };
  assert.equal(result.status, 200);
  assert.equal(result.body.backend, 'words');
  assert.equal(result.body.path, '/from-python');
});

test('hop-by-hop headers, and those Connection names, do not reach the service', async () => {
  const body = await curlJson('-H', 'Host: words', '-H', 'Connection: keep-alive, x-hop-secret', '-H', 'X-Hop-Secret: 1', '-H', 'Keep-Alive: timeout=5', '-H', 'Proxy-Authorization: Basic Zm9vOmJhcg==', '-H', 'X-End-To-End: kept', `http://${sidecar.outbound}/hops`);
  assert.equal(body.headers['x-hop-secret'], undefined);
  assert.equal(body.headers['keep-alive'], undefined);
  assert.equal(body.headers['proxy-authorization'], undefined);
  assert.equal(body.headers['x-end-to-end'], 'kept');
});

test('two requests on one curl invocation share a keep-alive connection to the sidecar', async () => {
  const { stderr } = await run('curl', ['-sS', '-v', '-H', 'Host: words', `http://${sidecar.outbound}/a`, `http://${sidecar.outbound}/b`], { encoding: 'utf8' });
  assert.match(stderr, /Re-using existing connection/);
});

test('a 4 MiB response and a 4 MiB upload stream through intact', async () => {
  const download = await curl('-H', 'Host: blob', `http://${sidecar.outbound}/big`);
  assert.equal(download.length, 4 * 1024 * 1024);
  assert.equal(createHash('sha256').update(download).digest('hex'), blobSha);
  const upload = JSON.parse((await run('bash', ['-c', `head -c 4194304 /dev/zero | curl -sS --max-time 10 -H 'Host: blob' -H 'Transfer-Encoding: chunked' --data-binary @- http://${sidecar.outbound}/up`], { encoding: 'utf8' })).stdout) as { bytes: number; sha: string };
  assert.equal(upload.bytes, 4 * 1024 * 1024);
  assert.equal(upload.sha, createHash('sha256').update(Buffer.alloc(4 * 1024 * 1024)).digest('hex'));
});

test('HTTP/2 with prior knowledge is accepted on the same port', async () => {
  const { stdout } = await run('curl', ['-sS', '--http2-prior-knowledge', '-w', '\\n%{http_version}', '-H', 'Host: words', `http://${sidecar.outbound}/over-h2`], { encoding: 'utf8' });
  const [json, version] = stdout.split('\n');
  assert.equal(version, '2');
  const body = JSON.parse(json!) as { backend: string; path: string; headers: Record<string, string> };
  assert.equal(body.backend, 'words');
  assert.equal(body.path, '/over-h2');
  assert.equal(body.headers.host, 'words');
});

test('an unknown service gets 502 with the mesh error code, and an absent Host a 400', async () => {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', '-H', 'Host: nosuch.invalid', `http://${sidecar.outbound}/`], { encoding: 'utf8' });
  assert.match(stdout, /^HTTP\/1.1 502/);
  assert.match(stdout, /x-meshwork-error: CONNECT_FAILED/i);
  const http10 = await run('curl', ['-sS', '-0', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host:', `http://${sidecar.outbound}/`], { encoding: 'utf8' });
  assert.equal(http10.stdout, '400');
});

test('inbound traffic reaches the local app, with inbound metrics', async () => {
  const before = app.hits;
  const body = await curlJson('-H', 'Host: app', `http://${sidecar.inbound}/inside`);
  assert.equal(body.backend, 'app');
  assert.equal(app.hits, before + 1);
  const metrics = await sidecar.metrics();
  assert.equal(metricValue(metrics, 'request_total', { direction: 'inbound', authority: 'app' }), 1);
  assert.equal(metricValue(metrics, 'response_total', { direction: 'inbound', authority: 'app', status_code: '200', classification: 'success' }), 1);
});

test('inbound honours the propagated deadline: a slow app gets 504 when the caller\'s time is up', async () => {
  app.behaviour = { delayMs: 2_000 };
  try {
    const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', '-H', 'Host: app', '-H', 'x-meshwork-deadline-ms: 150', `http://${sidecar.inbound}/slow`], { encoding: 'utf8' });
    assert.match(stdout, /^HTTP\/1.1 504/);
    assert.match(stdout, /x-meshwork-error: TIMEOUT/i);
  } finally {
    app.behaviour = {};
  }
});

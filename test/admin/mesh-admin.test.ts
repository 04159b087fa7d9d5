/**
 * `mesh.admin()` in a library process: the JSON summary and tap over real HTTP on loopback, against
 * real backends, read with undici and curl. Tap is off unless enabled, filters at the source, never
 * shows credentials, is limited in rate (on a ManualClock), and ends when a reload turns it off.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { createMesh, ManualClock, type Mesh } from '../../src/index.js';
import type { MeshSummary } from '../../src/admin/mesh-summary.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { closeAdminStreams, openAdminStream } from '../helpers/admin-stream.js';

let backend: TestBackend;
const dirs: string[] = [];
before(async () => {
  backend = await startBackend('words');
});
afterEach(closeAdminStreams);
after(async () => {
  await backend?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const routes = [{ name: 'GET /words/{id}', condition: { method: 'GET', pathRegex: '/words/[^/]+' } }];

async function get(url: string): Promise<{ status: number; type: string; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

async function send(mesh: Mesh, path: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET'): Promise<number> {
  const res = await mesh.client('words').request({ method, path, headers });
  await res.body.dump();
  return res.statusCode;
}

test('mesh.admin() binds loopback and serves the windowed summary: per service and route, with endpoints, breaker and retry budget', async () => {
  const mesh = createMesh({ services: { words: { endpoints: [backend.address], routes, retries: { budget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' } } } } });
  try {
    const admin = await mesh.admin({ listen: 0 });
    assert.equal(admin.address.host, '127.0.0.1');
    assert.equal(admin.url, `http://127.0.0.1:${admin.address.port}/`);
    backend.behaviour = { script: [200, 500, 200] };
    for (const path of ['/words/1', '/words/2', '/other']) await send(mesh, path);
    backend.behaviour = {};
    const res = await get(`${admin.url}api/summary`);
    assert.equal(res.status, 200);
    assert.match(res.type, /^application\/json/);
    const summary = JSON.parse(res.text) as MeshSummary;
    assert.equal(summary.self, 'this process');
    assert.deepEqual(summary.tap, { enabled: false });
    const words = summary.services.find((s) => s.name === 'words' && s.direction === 'outbound')!;
    assert.ok(words, JSON.stringify(summary));
    assert.equal(words.requests, 3);
    assert.equal(words.successRate, 0.6667);
    assert.ok(words.rps > 0);
    assert.ok(words.latencyMs.p50 !== null && words.latencyMs.p99! >= words.latencyMs.p50);
    assert.deepEqual(words.routes.map((r) => [r.route, r.requests, r.successRate]), [['GET /words/{id}', 2, 0.5], ['default', 1, 1]]);
    assert.deepEqual(words.breaker, { state: 'closed', probeInMs: null });
    assert.deepEqual(words.retries.budget && { ratio: words.retries.budget.retryRatio, min: words.retries.budget.minRetriesPerSecond }, { ratio: 0.2, min: 10 });
    assert.equal(words.endpoints.length, 1);
    assert.deepEqual({ ...words.endpoints[0]!, ewmaMs: typeof words.endpoints[0]!.ewmaMs }, { destination: 'words', address: backend.address, pending: 0, ewmaMs: 'number', ejected: false, ejectedForMs: 0 });
    assert.deepEqual(summary.edges, [{ from: 'this process', to: 'words', requests: 3, successRate: 0.6667, rps: words.rps }]);
    assert.match((await get(`${admin.url}metrics`)).text, /request_total\{direction="outbound",authority="words"/);
    assert.equal((await get(`${admin.url}nothing-here`)).status, 404);
    await admin.close();
    const fresh = new Agent();
    await assert.rejects(request(`${admin.url}api/summary`, { dispatcher: fresh }), /ECONNREFUSED/);
    await fresh.close();
  } finally {
    await mesh.close();
  }
});

test('tap is off unless enabled: 403 with how to turn it on', async () => {
  const mesh = createMesh({ services: { words: { endpoints: [backend.address] } } });
  try {
    const admin = await mesh.admin({ listen: 0 });
    const res = await get(`${admin.url}api/tap`);
    assert.equal(res.status, 403);
    assert.match(res.text, /tap is off: enable it in the config with spec\.admin\.tap: true/);
  } finally {
    await mesh.close();
  }
});

test('tap streams matching requests as they complete, filtered at the source, and never shows authorization, cookie, set-cookie or configured headers', async () => {
  const secretBackend = await startBackend('secret');
  const mesh = createMesh({ services: { words: { endpoints: [secretBackend.address], routes } } });
  try {
    const admin = await mesh.admin({ listen: 0, tap: { redactHeaders: ['X-Api-Key'] } });
    const bad = await get(`${admin.url}api/tap?status=abc`);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /status: expected a status \(503\), a class \(5xx\), error or failure, got "abc"/);

    const tap = await openAdminStream(`${admin.url}api/tap?route=GET%20/words/%7Bid%7D&method=get`);
    assert.deepEqual(await tap.next(), { type: 'tap', filter: { method: 'get', route: 'GET /words/{id}' } });
    // Not matching the filter: another route, another method.
    await send(mesh, '/other');
    await send(mesh, '/words/1', {}, 'POST');
    const secrets = { authorization: 'Bearer sekrit-token', cookie: 'session=sekrit-cookie', 'x-api-key': 'sekrit-key', 'x-request-id': 'r-1' };
    await send(mesh, '/words/7?x=1', secrets);
    const event = await tap.next();
    tap.close();
    assert.equal(event.type, 'request');
    assert.equal(event.path, '/words/7?x=1');
    assert.equal(event.method, 'GET');
    assert.equal(event.route, 'GET /words/{id}');
    assert.equal(event.direction, 'outbound');
    assert.equal(event.authority, 'words');
    assert.equal(event.statusCode, 200);
    assert.equal(event.endpoint, secretBackend.address);
    assert.equal(event.attempts, 1);
    assert.equal(event.error, null);
    assert.deepEqual(event.requestHeaders, { 'x-request-id': 'r-1' });
    assert.equal((event.responseHeaders as Record<string, string>)['x-backend'], 'secret');
    assert.ok(!JSON.stringify(event).includes('sekrit'), JSON.stringify(event));
  } finally {
    await mesh.close();
    await secretBackend.stop();
  }
});

test('a set-cookie in the response is never shown either; curl reads the tap as server-sent events', async () => {
  const cookieServer = createServer((_req, res) => {
    res.writeHead(200, { 'set-cookie': 'session=sekrit-cookie; HttpOnly', 'x-backend': 'cookies' });
    res.end('ok');
  });
  await new Promise<void>((resolve) => cookieServer.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(cookieServer.address() as AddressInfo).port}`;
  const mesh = createMesh({ services: { words: { endpoints: [address] } } });
  try {
    const admin = await mesh.admin({ listen: 0, tap: true });
    const curl = spawn('curl', ['-sN', '-H', 'accept: text/event-stream', `${admin.url}api/tap`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => output.includes(text) && resolve();
        curl.stdout.on('data', check);
        check();
      });
    curl.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await seen('event: tap\n');
    const res = await mesh.client('words').request({ path: '/set' });
    await res.body.dump();
    await seen('event: request\n');
    curl.kill();
    const data = output.split('\n').find((line) => line.startsWith('data: {"type":"request"'))!;
    const event = JSON.parse(data.slice('data: '.length)) as { responseHeaders: Record<string, string> };
    assert.equal(event.responseHeaders['x-backend'], 'cookies');
    assert.equal(event.responseHeaders['set-cookie'], undefined);
    assert.ok(!output.includes('sekrit'), output);
  } finally {
    await mesh.close();
    await new Promise((resolve) => cookieServer.close(resolve));
  }
});

test('tap keeps to maxEventsPerSecond on the mesh clock and tells the subscriber how many it skipped', async () => {
  const clock = new ManualClock(0);
  const mesh = createMesh({ clock, services: { words: { endpoints: [backend.address], retries: false, circuitBreaker: false } } });
  try {
    const admin = await mesh.admin({ listen: 0, tap: { maxEventsPerSecond: 2 } });
    const tap = await openAdminStream(`${admin.url}api/tap`);
    await tap.next();
    for (let i = 0; i < 5; i++) await send(mesh, `/burst/${i}`);
    clock.advance(1_000);
    await send(mesh, '/after');
    const messages = await tap.until((m) => m.path === '/after');
    tap.close();
    assert.deepEqual(
      messages.map((m) => (m.type === 'request' ? m.path : m)),
      ['/burst/0', '/burst/1', { type: 'skipped', rateLimited: 3, slowReader: 0 }, '/after'],
    );
  } finally {
    await mesh.close();
  }
});

test('spec.admin.tap comes from the config file, and a reload that turns it off ends the streams', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-admin-'));
  dirs.push(dir);
  const file = join(dir, 'mesh.yaml');
  const yaml = (tap: boolean) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  admin: { tap: ${tap}, statsWindow: 30s }
  services:
    words: { endpoints: ["${backend.address}"] }
`;
  writeFileSync(file, yaml(true));
  let reloaded = () => {};
  const logger = { debug() {}, warn() {}, error() {}, info: (message: string) => message === 'config reloaded' && reloaded() };
  const mesh = createMesh({ config: file, logger });
  try {
    const admin = await mesh.admin({ listen: 0 });
    const summary = JSON.parse((await get(`${admin.url}api/summary`)).text) as MeshSummary;
    assert.equal(summary.windowMs, 30_000);
    assert.deepEqual(summary.tap, { enabled: true });
    const tap = await openAdminStream(`${admin.url}api/tap`);
    await tap.next();
    const reload = new Promise<void>((resolve, reject) => {
      reloaded = resolve;
      setTimeout(() => reject(new Error(`the change to ${file} was not applied within 15 s (config error: ${mesh.configError?.message})`)), 15_000).unref();
    });
    // Written aside and renamed over, as editors and Kubernetes do, so the watcher never reads half a file.
    writeFileSync(`${file}.new`, yaml(false));
    renameSync(`${file}.new`, file);
    await reload;
    await send(mesh, '/after-reload');
    assert.deepEqual(await tap.next(), { type: 'end', reason: 'tap was turned off in the config' });
    tap.close();
    assert.equal((await get(`${admin.url}api/tap`)).status, 403);
  } finally {
    await mesh.close();
  }
});

test('mesh.admin() options are checked like spec.admin, and a mesh without metrics has no admin', async () => {
  const mesh = createMesh({ services: { words: { endpoints: [backend.address] } } });
  const bare = createMesh({ metrics: false, services: { words: { endpoints: [backend.address] } } });
  try {
    await assert.rejects(mesh.admin({ listen: 0, statsWindow: '5ms' }), /mesh\.admin\(\): invalid options:\n {2}- statsWindow: expected a window from 1s to 10m, got "5ms"/);
    await assert.rejects(mesh.admin({ listen: 'nowhere' }), /mesh\.admin\(\): listen: expected host:port/);
    await assert.rejects(bare.admin({ listen: 0 }), /created with metrics: false/);
  } finally {
    await mesh.close();
    await bare.close();
  }
});

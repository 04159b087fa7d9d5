/**
 * The egress policy (spec.egress) against real servers: allowed external hosts go through their own
 * client (their own timeout and retries, direction="egress" metrics), reached by static endpoints or
 * by DNS (dnsmasq answers for the names); any other host is refused with EGRESS_DENIED and counted,
 * by the real mesh-sidecar's outbound port (curl through it as HTTP_PROXY) and by mesh.dispatcher
 * (fetch) in process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { fetch } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { createMesh, type Mesh } from '../../src/index.js';
import { isMeshError } from '../../src/core/errors.js';
import { startDnsmasq, type Dnsmasq } from '../helpers/dnsmasq.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue, startSidecarProcess, writeConfig, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);

let dir: string;
let partner: TestBackend;
let slow: TestBackend;
let byDns: TestBackend;
let dns: Dnsmasq;
let sidecar: SidecarProcess;
let mesh: Mesh;

const yaml = () => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services: {}
  egress:
    allow:
      - host: partner.example.test
        ports: [${partner.port}]
        endpoints: ["${partner.address}"]
        retries: { maxAttempts: 3 }
      - host: slow.example.test
        endpoints: ["${slow.address}"]
        timeout: 300ms
        retries: false
      - host: "*.dns.test"
        discovery: { type: dns, nameservers: ["${dns.nameserver}"] }
`;

/** curl through the sidecar's outbound port as an HTTP proxy, as an app with HTTP_PROXY would. */
async function viaProxy(url: string): Promise<{ status: number; error: string | undefined; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-x', `http://${sidecar.outbound}`, '-D', '-', url]);
  const [head, body] = stdout.split('\r\n\r\n');
  const error = /^x-meshwork-error: (.*)$/im.exec(head!)?.[1]?.trim();
  return { status: Number(head!.split(' ')[1]), error, body: body ?? '' };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-egress-'));
  partner = await startBackend('partner');
  slow = await startBackend('slow', { delayMs: 2_000 });
  byDns = await startBackend('by-dns');
  dns = await startDnsmasq(join(dir, 'hosts'), [['127.0.0.1', 'api.dns.test']], []);
  sidecar = await startSidecarProcess(yaml());
  mesh = createMesh({ config: writeConfig(yaml(), mkdtempSync(join(dir, 'mesh-'))), watch: false });
});

after(async () => {
  await Promise.all([sidecar?.stop(), mesh?.close(), dns?.stop()]);
  await Promise.all([partner?.stop(), slow?.stop(), byDns?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

test('sidecar: an allowed host goes through its own client, retried by its own policy, counted with direction="egress"', async () => {
  const hits = partner.hits;
  partner.behaviour.script = [503, 503];
  const res = await viaProxy(`http://partner.example.test:${partner.port}/quote`);
  assert.equal(res.status, 200, res.body);
  assert.equal(partner.hits - hits, 3, 'maxAttempts 3: two 503s retried');
  const text = await sidecar.metrics();
  const authority = `partner.example.test:${partner.port}`;
  assert.equal(metricValue(text, 'request_total', { direction: 'egress', authority }), 1);
  assert.equal(metricValue(text, 'meshwork_retries_total', { authority }), 2);
});

test('sidecar: an allowed host\'s own timeout applies, and retries: false means one attempt', async () => {
  const res = await viaProxy(`http://slow.example.test:${slow.port}/`);
  assert.equal(res.status, 504);
  assert.equal(res.error, 'TIMEOUT');
  assert.equal(slow.hits, 1);
});

test('sidecar: a wildcard entry resolves the host addressed by DNS', async () => {
  const res = await viaProxy(`http://api.dns.test:${byDns.port}/x`);
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { backend: string }).backend, 'by-dns');
});

test('sidecar: any other host, or an allowed host on a port it is not allowed, is refused with 403 EGRESS_DENIED and counted', async () => {
  const before = metricValue(await sidecar.metrics(), 'meshwork_egress_denied_total', { host: 'denied.example.test' });
  const denied = await viaProxy(`http://denied.example.test:${partner.port}/`);
  assert.equal(denied.status, 403);
  assert.equal(denied.error, 'EGRESS_DENIED');
  assert.match(denied.body, /denied\.example\.test:\d+ is not an allowed external host/);
  const hits = partner.hits;
  const wrongPort = await viaProxy(`http://partner.example.test:${slow.port}/`);
  assert.equal(wrongPort.error, 'EGRESS_DENIED');
  // The bare suffix of a wildcard is not one of its subdomains.
  const bareSuffix = await viaProxy(`http://dns.test:${byDns.port}/`);
  assert.equal(bareSuffix.error, 'EGRESS_DENIED');
  assert.equal(partner.hits, hits);
  const text = await sidecar.metrics();
  assert.equal(metricValue(text, 'meshwork_egress_denied_total', { host: 'denied.example.test' }) - before, 1);
  assert.equal(metricValue(text, 'meshwork_egress_denied_total', { host: 'partner.example.test' }), 1);
});

test('mesh.dispatcher: fetch to an allowed host goes through its client; to any other host it is refused and counted', async () => {
  partner.behaviour.script = [503];
  const res = await fetch(`http://partner.example.test:${partner.port}/quote`, { dispatcher: mesh.dispatcher });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { backend: string }).backend, 'partner');
  await assert.rejects(fetch(`http://127.0.0.1:${partner.port}/`, { dispatcher: mesh.dispatcher }), (err: Error) => {
    assert.ok(isMeshError(err.cause, 'EGRESS_DENIED'), String(err.cause));
    return true;
  });
  const text = await mesh.registry.metrics();
  assert.equal(metricValue(text, 'meshwork_egress_denied_total', { host: '127.0.0.1' }), 1);
  assert.equal(metricValue(text, 'meshwork_retries_total', { authority: `partner.example.test:${partner.port}` }), 1);
});

test('without spec.egress, unknownHosts passthrough still sends unknown hosts out untouched', async () => {
  const open = createMesh({ services: { other: { endpoints: ['127.0.0.1:1'] } } });
  try {
    const res = await fetch(`http://127.0.0.1:${partner.port}/open`, { dispatcher: open.dispatcher });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(open.egressFor('anything.test'), undefined);
  } finally {
    await open.close();
  }
});

test('egress from code: createMesh({ egress }) is checked like the YAML, and refuses what it does not allow', async () => {
  assert.throws(() => createMesh({ services: {}, egress: { allow: [{ host: 'a..b', timeout: 'soon' }] } as never }), /egress: invalid options:[\s\S]*allow\[0\]\.host: expected a host name/);
  const coded = createMesh({ services: {}, egress: { allow: [{ host: 'partner.example.test', endpoints: [partner.address] }] } });
  try {
    const ok = await fetch('http://partner.example.test/x', { dispatcher: coded.dispatcher });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    await assert.rejects(fetch('http://other.example.test/', { dispatcher: coded.dispatcher }), (err: Error) => isMeshError(err.cause, 'EGRESS_DENIED'));
  } finally {
    await coded.close();
  }
});

test('a config reload replaces the allow-list: a host it adds is let through, one it drops is refused', async () => {
  const file = writeConfig(yaml(), mkdtempSync(join(dir, 'reload-')));
  const watched = createMesh({ config: file });
  try {
    await assert.rejects(fetch(`http://127.0.0.1:${partner.port}/`, { dispatcher: watched.dispatcher }), (err: Error) => isMeshError(err.cause, 'EGRESS_DENIED'));
    writeFileSync(file, yaml().replace('host: partner.example.test', 'host: 127.0.0.1'));
    const deadline = Date.now() + 10_000;
    while (watched.configGeneration < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(watched.configGeneration, 2, String(watched.configError));
    const res = await fetch(`http://127.0.0.1:${partner.port}/now-allowed`, { dispatcher: watched.dispatcher });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await assert.rejects(fetch(`http://partner.example.test:${partner.port}/`, { dispatcher: watched.dispatcher }), (err: Error) => isMeshError(err.cause, 'EGRESS_DENIED'));
  } finally {
    await watched.close();
  }
});

test('sidecar: a WebSocket to an allowed host goes through its client; to any other host it is refused with EGRESS_DENIED', async () => {
  const wsServer = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wsServer.once('listening', () => resolve()));
  wsServer.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)));
  const wsPort = (wsServer.address() as { port: number }).port;
  try {
    const allowed = new WebSocket(`ws://${sidecar.outbound}/chat`, { headers: { host: `api.dns.test:${wsPort}` } });
    const echoed = await new Promise<string>((resolve, reject) => {
      allowed.once('open', () => allowed.send('ping'));
      allowed.once('message', (data) => resolve(data.toString()));
      allowed.once('error', reject);
    });
    allowed.close();
    assert.equal(echoed, 'echo ping');
    const denied = new WebSocket(`ws://${sidecar.outbound}/chat`, { headers: { host: `denied.example.test:${wsPort}` } });
    const status = await new Promise<number>((resolve) => {
      denied.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      denied.once('error', () => resolve(0));
    });
    assert.equal(status, 403);
  } finally {
    await new Promise<void>((resolve) => wsServer.close(() => resolve()));
  }
});

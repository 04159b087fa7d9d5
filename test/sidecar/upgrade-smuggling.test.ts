/**
 * The attacker's view of protocol upgrades through the sidecar. An app that does not speak WebSocket
 * answers an `Upgrade` request like any other request (RFC 9110 §7.8 lets it), so a proxy that starts
 * a raw tunnel before it has seen `101 Switching Protocols` forwards whatever the client pipelines
 * next without parsing it: a forged identity header, a route the policy denies, a Host the mesh
 * refuses. These tests pipeline such a second request behind an Upgrade on all three paths (outbound,
 * inbound plaintext, inbound strict mTLS) against python3's keep-alive http.server, and check that it
 * never reaches the app unparsed. A real upgrade still tunnels, without the hop-by-hop headers the
 * request's `Connection` names.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { startPythonApp, type PythonApp, type SeenRequest } from '../helpers/python-app.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const TD = 'cluster.local';
const SIMON = `spiffe://${TD}/ns/default/sa/simon`;
const FORGED = 'spiffe://cluster.local/ns/kube-system/sa/admin';

let dir: string;
let app: PythonApp;
let outbound: SidecarProcess;
let inbound: SidecarProcess;
let strict: SidecarProcess;
let simonFiles: { certFile: string; keyFile: string; caFile: string };
let wsServer: WebSocketServer;
const wsHeaders: Record<string, string | string[] | undefined>[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-smuggle-'));
  app = await startPythonApp();
  wsServer = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wsServer.on('connection', (socket, req) => {
    wsHeaders.push(req.headers);
    socket.on('message', (data) => socket.send(`echo:${String(data)}`));
  });
  await new Promise<void>((resolve) => wsServer.once('listening', resolve));

  outbound = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  unknownHosts: refuse
  services:
    app: { endpoints: ["${app.address}"] }
    chat: { endpoints: ["127.0.0.1:${(wsServer.address() as AddressInfo).port}"] }
`);
  inbound = await startSidecarProcess('apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services: {}\n', ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app.address]);

  const ca = await createAuthority({ trustDomain: TD });
  const words = await writeLeaf(join(dir, 'words'), await issueLeaf(ca, `spiffe://${TD}/ns/default/sa/words`), ca.root.certPem);
  simonFiles = await writeLeaf(join(dir, 'simon'), await issueLeaf(ca, SIMON), ca.root.certPem);
  strict = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  identity: { certFile: "${words.certFile}", keyFile: "${words.keyFile}", trustAnchorsFile: "${words.caFile}" }
  sidecar:
    inboundTls: strict
    authorization:
      - { name: simon reads words, from: ["${SIMON}"], routes: [{ method: GET, pathRegex: "/words/.*" }] }
  services: {}
`,
    ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app.address],
  );
});

after(async () => {
  await Promise.all([outbound?.stop(), inbound?.stop(), strict?.stop()]);
  await app?.stop();
  wsServer?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `payload` in one segment and collects what comes back until the peer closes (or 3 s pass). */
function exchange(socket: Socket, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, 3_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(payload);
  });
}

function plain(address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host!, () => resolve(socket));
    socket.once('error', reject);
  });
}

function upgradeThenPipelined(first: string, host: string, second: string): string {
  return (
    `GET ${first} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n${second}`
  );
}

function seenPaths(): string[] {
  return app.seen.map((r: SeenRequest) => r.path);
}

test('outbound: a request pipelined behind a refused upgrade never reaches the app (Host the mesh refuses)', async () => {
  const smuggled = `GET /smuggled-outbound HTTP/1.1\r\nHost: evil.example\r\n${'x-meshwork-client-id'}: ${FORGED}\r\n\r\n`;
  const reply = await exchange(await plain(outbound.outbound), upgradeThenPipelined('/first-outbound', 'app', smuggled));
  assert.match(reply, /^HTTP\/1\.1 200 /, 'the app answered the upgrade request normally, and the caller gets that answer');
  assert.match(reply, /"path": "\/first-outbound"/);
  assert.ok(seenPaths().includes('/first-outbound'));
  assert.ok(!seenPaths().includes('/smuggled-outbound'), `the pipelined request reached the app unparsed: ${JSON.stringify(app.seen.at(-1))}`);
});

test('inbound: a pipelined request cannot carry a forged identity or skip X-Forwarded-For', async () => {
  const smuggled = `GET /smuggled-inbound HTTP/1.1\r\nHost: app\r\nx-meshwork-client-id: ${FORGED}\r\nKeep-Alive: timeout=5\r\n\r\n`;
  const reply = await exchange(await plain(inbound.inbound!), upgradeThenPipelined('/first-inbound', 'app', smuggled));
  assert.match(reply, /^HTTP\/1\.1 200 /);
  for (const seen of app.seen) {
    assert.notEqual(seen.headers['x-meshwork-client-id'], FORGED, `the app saw a forged identity on ${seen.path}`);
    assert.ok(seen.headers['x-forwarded-for'], `the app saw a request the sidecar did not parse: ${seen.path}`);
  }
  assert.ok(!seenPaths().includes('/smuggled-inbound'));
});

test('inbound strict mTLS: a route the policy denies cannot be pipelined behind an upgrade', async () => {
  const [host, port] = strict.inbound!.split(':');
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = tlsConnect(
      { host, port: Number(port), ca: readFileSync(simonFiles.caFile), cert: readFileSync(simonFiles.certFile), key: readFileSync(simonFiles.keyFile), checkServerIdentity: () => undefined },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  const smuggled = `DELETE /admin/everything HTTP/1.1\r\nHost: words\r\nx-meshwork-client-id: ${FORGED}\r\ncontent-length: 0\r\n\r\n`;
  const reply = await exchange(socket, upgradeThenPipelined('/words/1', 'words', smuggled));
  assert.match(reply, /^HTTP\/1\.1 200 /, 'simon may GET /words/1');
  assert.ok(seenPaths().includes('/words/1'));
  assert.ok(!seenPaths().includes('/admin/everything'), 'a DELETE the policy denies reached the app');
  const allowed = app.seen.find((r) => r.path === '/words/1')!;
  assert.equal(allowed.headers['x-meshwork-client-id'], SIMON);
});

test('a real upgrade tunnels both ways', async () => {
  const socket = new WebSocket(`ws://${outbound.outbound}/chat`, { headers: { host: 'chat' } });
  const echoed = await new Promise<string>((resolve, reject) => {
    socket.once('open', () => socket.send('hello'));
    socket.once('message', (data) => resolve(String(data)));
    socket.once('error', reject);
  });
  socket.close();
  assert.equal(echoed, 'echo:hello');
});

test('a real upgrade is sent on without the hop-by-hop headers its Connection names', async () => {
  const client = await plain(outbound.outbound);
  const reply = await new Promise<string>((resolve, reject) => {
    let text = '';
    client.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        client.destroy();
        resolve(text);
      }
    });
    client.once('error', reject);
    client.write(
      'GET /chat HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade, X-Hop-Secret\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Hop-Secret: do-not-forward\r\nKeep-Alive: timeout=5\r\nX-End-To-End: kept\r\n\r\n',
    );
  });
  assert.match(reply, /^HTTP\/1\.1 101 /);
  assert.match(reply, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  const seen = wsHeaders.at(-1)!;
  assert.equal(seen['x-hop-secret'], undefined);
  assert.equal(seen['keep-alive'], undefined);
  assert.equal(seen['x-end-to-end'], 'kept');
  assert.equal(String(seen.upgrade).toLowerCase(), 'websocket');
  assert.ok(seen['x-forwarded-for']);
});

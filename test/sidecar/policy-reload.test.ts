/**
 * The sidecar's own policy follows the config file: a caller removed from an authorization rule is
 * refused from its next request, on a connection that was already open; a caller added is let in;
 * settings the listeners were built with (addresses, limits) are reported as waiting for a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { request as httpRequest } from 'node:http';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const TD = 'cluster.local';
const SIMON = `spiffe://${TD}/ns/default/sa/simon`;
const OTHER = `spiffe://${TD}/ns/default/sa/other`;

let dir: string;
let app: TestBackend;
let sidecar: SidecarProcess;
let words: { certFile: string; keyFile: string; caFile: string };
let simon: { certFile: string; keyFile: string; caFile: string };

function config(allowed: string[], maxHeaderBytes = 16384, inboundTls = 'strict'): string {
  return `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  identity: { certFile: "${words.certFile}", keyFile: "${words.keyFile}", trustAnchorsFile: "${words.caFile}" }
  sidecar:
    inboundTls: ${inboundTls}
    maxHeaderBytes: ${maxHeaderBytes}
    authorization:
      - { name: readers, from: ${JSON.stringify(allowed)}, routes: [{ method: GET, pathRegex: "/words/.*" }] }
  services: {}
`;
}

/** Replaces the config file atomically, as a ConfigMap update or an editor's save does. */
function rewrite(yaml: string): void {
  const temp = `${sidecar.configPath}.tmp`;
  writeFileSync(temp, yaml);
  renameSync(temp, sidecar.configPath);
}

/** Waits for the mesh to apply its `count`-th reload (the sidecar's policy is applied in the same step). */
async function reloaded(count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (sidecar.logs.filter((l) => l.msg === 'config reloaded').length >= count) return;
    await sleep(50);
  }
  assert.fail(`the sidecar did not reload its policy: ${JSON.stringify(sidecar.logs.slice(-5))}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-policy-'));
  const ca = await createAuthority({ trustDomain: TD });
  words = await writeLeaf(join(dir, 'words'), await issueLeaf(ca, `spiffe://${TD}/ns/default/sa/words`), ca.root.certPem);
  simon = await writeLeaf(join(dir, 'simon'), await issueLeaf(ca, SIMON), ca.root.certPem);
  app = await startBackend('words-app');
  sidecar = await startSidecarProcess(config([SIMON]), ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app.address]);
});

after(async () => {
  await sidecar?.stop();
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One kept-alive mTLS connection as simon; `get` sends a request on it and reads the status. */
async function simonConnection(): Promise<{ socket: TLSSocket; get(path: string): Promise<number> }> {
  const [host, port] = sidecar.inbound!.split(':');
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect(
      { host, port: Number(port), ca: readFileSync(simon.caFile), cert: readFileSync(simon.certFile), key: readFileSync(simon.keyFile), checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  let buffered = '';
  socket.on('data', (chunk: Buffer) => (buffered += chunk.toString('latin1')));
  return {
    socket,
    async get(path) {
      buffered = '';
      socket.write(`GET ${path} HTTP/1.1\r\nHost: words\r\n\r\n`);
      for (let i = 0; i < 100; i++) {
        const match = /^HTTP\/1\.1 (\d+) [^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(buffered);
        const length = match ? Number(/content-length: (\d+)/i.exec(match[2]!)?.[1] ?? 0) : 0;
        if (match && buffered.length >= match[0].length + length) return Number(match[1]);
        await sleep(20);
      }
      throw new Error(`no complete response on the kept-alive connection: ${JSON.stringify(buffered)}`);
    },
  };
}

test('a caller removed from the policy is refused from its next request on an open connection', async () => {
  const conn = await simonConnection();
  try {
    assert.equal(await conn.get('/words/1'), 200);
    assert.equal(await conn.get('/words/2'), 200);
    rewrite(config([OTHER]));
    await reloaded(1);
    assert.equal(await conn.get('/words/3'), 403, 'the revoked caller still got in');
    assert.ok(!conn.socket.destroyed, 'the same connection carried the refused request');
    rewrite(config([OTHER, SIMON]));
    await reloaded(2);
    assert.equal(await conn.get('/words/4'), 200, 'a caller added back is let in');
  } finally {
    conn.socket.destroy();
  }
});

test('settings the listeners were built with wait for a restart, and /config says so', async () => {
  rewrite(config([SIMON], 32768));
  await reloaded(3);
  const view = (await (await fetch(`http://${sidecar.admin}/config`)).json()) as { sidecar: { maxHeaderBytes: number; pendingRestart: string[] }; configError: string | null };
  assert.equal(view.configError, null);
  assert.equal(view.sidecar.maxHeaderBytes, 16384);
  assert.deepEqual(view.sidecar.pendingRestart, ['maxHeaderBytes']);
  assert.ok(sidecar.logs.some((l) => l.msg === 'spec.sidecar changes that apply only after a restart'));
});

/** A plaintext request on a new connection: its status and x-meshwork-error. */
function plaintext(): Promise<{ status: number; error: string | undefined }> {
  const [host, port] = sidecar.inbound!.split(':');
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port: Number(port), path: '/words/1', headers: { host: 'words', connection: 'close' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, error: res.headers['x-meshwork-error'] as string | undefined });
    });
    req.once('error', reject);
    req.end();
  });
}

test('strict and permissive inbound mTLS switch on reload, for the next connection', async () => {
  assert.deepEqual(await plaintext(), { status: 403, error: 'TLS_REQUIRED' });
  rewrite(config([SIMON], 32768, 'permissive'));
  await reloaded(4);
  // Plaintext is now let through the TLS gate; the authorization policy then refuses an unauthenticated caller.
  assert.deepEqual(await plaintext(), { status: 403, error: 'FORBIDDEN' });
  const conn = await simonConnection();
  try {
    assert.equal(await conn.get('/words/5'), 200);
  } finally {
    conn.socket.destroy();
  }
  rewrite(config([SIMON], 32768, 'strict'));
  await reloaded(5);
  assert.deepEqual(await plaintext(), { status: 403, error: 'TLS_REQUIRED' });
});

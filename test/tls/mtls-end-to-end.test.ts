/**
 * mTLS between a meshed client (createMesh with an identity) and a mesh-sidecar's inbound side, with
 * a CA made fresh for the test: identities verified both ways, plaintext refused in strict mode and
 * allowed in permissive mode, wrong CA / wrong SPIFFE ID / expired certificates refused, the caller's
 * identity given to the app and to metrics, authorization, and rotation under traffic.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMesh, type Mesh } from '../../src/index.js';
import { mtlsConnector } from '../../src/tls/mtls-connector.js';
import { createAuthority, issueLeaf, type CertificateAuthority } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue, runSidecarCli, startSidecarProcess, writeConfig, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);
const TD = 'cluster.local';
const SIMON = `spiffe://${TD}/ns/default/sa/simon`;
const WORDS = `spiffe://${TD}/ns/default/sa/words`;
const INTRUDER = `spiffe://${TD}/ns/default/sa/intruder`;

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let app: TestBackend;
let strict: SidecarProcess;
let permissive: SidecarProcess;
const leafDirs: Record<string, { certFile: string; keyFile: string; caFile: string }> = {};

async function leaf(name: string, spiffeId: string, authority = ca, options: { ttlMs?: number; now?: Date } = {}) {
  const issued = await issueLeaf(authority, spiffeId, options);
  leafDirs[name] = await writeLeaf(join(dir, name), issued, ca.root.certPem);
  return leafDirs[name]!;
}

const identityYaml = (files: { certFile: string; keyFile: string; caFile: string }) =>
  `  identity: { certFile: "${files.certFile}", keyFile: "${files.keyFile}", trustAnchorsFile: "${files.caFile}" }\n`;

function meshedClient(identityName: string, endpoint: string, expected = WORDS): Mesh {
  const path = writeConfig(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identityYaml(leafDirs[identityName]!)}  services:
    words:
      endpoints: ["${endpoint}"]
      tls: { identity: "${expected}" }
      retries: false
`,
    mkdtempSync(join(dir, 'client-')),
  );
  return createMesh({ config: path, watch: false });
}

async function get(mesh: Mesh, path = '/words/1', method: 'GET' | 'POST' = 'GET') {
  const res = await mesh.client('words').request({ method, path, headers: { 'x-meshwork-client-id': 'spiffe://forged/ns/x/sa/y' } });
  const text = await res.body.text();
  return { status: res.statusCode, body: res.statusCode === 200 ? (JSON.parse(text) as { headers: Record<string, string> }) : undefined, error: res.headers['x-meshwork-error'] };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-mtls-'));
  ca = await createAuthority({ trustDomain: TD });
  otherCa = await createAuthority({ trustDomain: TD });
  const other = otherCa;
  await leaf('words', WORDS);
  await leaf('simon', SIMON);
  await leaf('intruder', INTRUDER);
  await leaf('foreign', SIMON, other);
  await leaf('expired', SIMON, ca, { now: new Date(Date.now() - 3 * 3600_000), ttlMs: 3600_000 });
  app = await startBackend('words-app');
  const serverConfig = (mode: string, authorization = '') => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identityYaml(leafDirs.words!)}  sidecar:
    inboundTls: ${mode}
${authorization}  services: {}
`;
  strict = await startSidecarProcess(
    serverConfig(
      'strict',
      `    authorization:
      - name: simon reads words
        from: ["${SIMON}"]
        routes: [{ method: GET, pathRegex: "/words/.*" }]
`,
    ),
    ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app.address],
  );
  permissive = await startSidecarProcess(serverConfig('permissive'), ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app.address]);
});

after(async () => {
  await strict?.stop();
  await permissive?.stop();
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a meshed client reaches the app through strict mTLS; the app learns the verified caller, not a forged one', async () => {
  const mesh = meshedClient('simon', strict.inbound!);
  try {
    const result = await get(mesh);
    assert.equal(result.status, 200);
    assert.equal(result.body!.headers['x-meshwork-client-id'], SIMON);
    const metrics = await strict.metrics();
    assert.ok(metricValue(metrics, 'request_total', { direction: 'inbound', tls: 'true', client_id: SIMON }) >= 1);
  } finally {
    await mesh.close();
  }
});

test('strict mode refuses plaintext with 403 and never reaches the app', async () => {
  const before = app.hits;
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', '-H', 'Host: words', `http://${strict.inbound}/words/1`], { encoding: 'utf8' });
  assert.match(stdout, /^HTTP\/1.1 403/);
  assert.match(stdout, /x-meshwork-error: TLS_REQUIRED/i);
  assert.equal(app.hits, before);
});

test('the server must prove the expected SPIFFE ID', async () => {
  const mesh = meshedClient('simon', strict.inbound!, `spiffe://${TD}/ns/default/sa/not-words`);
  try {
    await assert.rejects(get(mesh), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TLS_FAILED');
      assert.match(err.message, /names spiffe:\/\/cluster\.local\/ns\/default\/sa\/words, not spiffe:\/\/cluster\.local\/ns\/default\/sa\/not-words/);
      return true;
    });
  } finally {
    await mesh.close();
  }
});

test('a meshed client whose certificate comes from another CA is refused', async () => {
  const mesh = meshedClient('foreign', strict.inbound!);
  const before = app.hits;
  try {
    await assert.rejects(get(mesh), (err: Error & { code?: string }) => ['TLS_FAILED', 'ENDPOINT_FAILED'].includes(err.code ?? ''));
    assert.equal(app.hits, before);
  } finally {
    await mesh.close();
  }
});

/**
 * Opens a TLS connection to `address` presenting `credentials` (or none) and, as soon as the
 * handshake is done, sends an HTTP/1.1 request (or, by ALPN h2, the HTTP/2 preface, which an HTTP/2
 * server answers with its SETTINGS); resolves with what came back when the server has closed it.
 */
function presentCertificate(address: string, credentials: { cert: string; key: string } | undefined, alpn: 'http/1.1' | 'h2' = 'http/1.1'): Promise<{ localPort: number; received: string }> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve) => {
    let received = '';
    let localPort = 0;
    const socket = tlsConnect({ host, port: Number(port), ca: readFileSync(leafDirs.simon!.caFile), ALPNProtocols: [alpn], ...credentials, checkServerIdentity: () => undefined }, () => {
      localPort = socket.localPort!;
      socket.write(alpn === 'h2' ? 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' : 'GET /words/smuggled HTTP/1.1\r\nHost: words\r\n\r\n');
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ localPort, received }));
  });
}

async function logged(sidecar: SidecarProcess, predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 100 && !sidecar.logs.some(predicate); i++) await sleep(20);
  return sidecar.logs.filter(predicate);
}

/** A certificate from the mesh's own issuer that names no SPIFFE ID, as an ordinary (non-mesh) client certificate would. */
async function certificateWithoutSpiffeId(): Promise<{ cert: string; key: string }> {
  const x509 = await import('@peculiar/x509');
  const { createPrivateKey, webcrypto } = await import('node:crypto');
  const issuerKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.issuer.keyPem).export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0badc0de',
    subject: 'CN=legacy-client',
    issuer: new x509.X509Certificate(ca.issuer.certPem).subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    publicKey: keys.publicKey,
    signingKey: issuerKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]), new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'legacy.example' }])],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: `${cert.toString('pem').trim()}\n${ca.issuer.certPem}`, key: x509.PemConverter.encode(keyDer, 'PRIVATE KEY') };
}

test('strict mode refuses a certificate that does not verify or names no SPIFFE ID, and no certificate, logging why once per connection; nothing sent reaches the app', async () => {
  const filesOf = (name: string) => ({ cert: readFileSync(leafDirs[name]!.certFile, 'utf8'), key: readFileSync(leafDirs[name]!.keyFile, 'utf8') });
  const simon = filesOf('simon');
  const leafOnly = { cert: /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/.exec(simon.cert)![0], key: simon.key };
  const chainHint = "the certificate does not chain to this listener's trust anchors (another CA, or sent without its issuer)";
  const cases = [
    { name: 'another CA', credentials: filesOf('foreign'), reason: 'unable to get local issuer certificate', code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', hint: chainHint, san: `URI:${SIMON}` },
    { name: 'expired', credentials: filesOf('expired'), reason: 'certificate has expired', code: 'CERT_HAS_EXPIRED', san: `URI:${SIMON}` },
    { name: 'expired, over HTTP/2', alpn: 'h2' as const, credentials: filesOf('expired'), reason: 'certificate has expired', code: 'CERT_HAS_EXPIRED', san: `URI:${SIMON}` },
    { name: 'leaf without its issuer', credentials: leafOnly, reason: 'unable to verify the first certificate', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', hint: chainHint, san: `URI:${SIMON}` },
    { name: 'no SPIFFE ID', credentials: await certificateWithoutSpiffeId(), reason: 'the certificate has no single spiffe:// URI SAN, so it names no mesh identity', code: 'NO_SPIFFE_ID', san: 'DNS:legacy.example', subject: 'CN=legacy-client' },
    { name: 'no certificate', credentials: undefined, reason: 'peer did not return a certificate', code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', hint: 'this port requires mTLS: the caller must present a certificate from the mesh' },
  ];
  const before = app.hits;
  for (const c of cases) {
    const { localPort, received } = await presentCertificate(strict.inbound!, c.credentials, c.alpn);
    assert.equal(received, '', `${c.name}: no HTTP answer; the connection never reached HTTP`);
    const lines = await logged(strict, (l) => l.msg === 'mTLS handshake refused' && l.remote === `127.0.0.1:${localPort}`);
    assert.equal(lines.length, 1, `${c.name}: one refusal line for the connection`);
    const line = lines[0]!;
    assert.equal(line.level, 'warn');
    assert.equal(line.reason, c.reason, c.name);
    assert.equal(line.code, c.code, c.name);
    assert.equal(line.hint, c.hint, c.name);
    assert.equal(line.peerSubjectAltName, c.san, c.name);
    assert.equal(line.peerSubject, c.subject, c.name);
  }
  assert.equal(app.hits, before, 'no request from a refused caller reached the app');
  assert.ok(!strict.logs.some((l) => l.error === 'socket hang up'), 'no refusal is reported as a hang-up');
});

test('a caller that refuses the sidecar\'s certificate in the handshake is logged with its alert', async () => {
  const { writeFileSync } = await import('node:fs');
  const trustsAnotherCa = join(dir, 'another-ca.crt');
  writeFileSync(trustsAnotherCa, otherCa.root.certPem);
  const simon = leafDirs.simon!;
  const before = app.hits;
  const failed = await run('curl', ['-sS', '--cacert', trustsAnotherCa, '--cert', simon.certFile, '--key', simon.keyFile, '-w', '%{local_port}', `https://${strict.inbound}/words/1`], { encoding: 'utf8' }).then(
    () => assert.fail('curl trusted a sidecar whose CA it does not know'),
    (err: { stdout: string; stderr: string }) => err,
  );
  assert.match(failed.stderr, /certificate/);
  const lines = await logged(strict, (l) => l.msg === 'mTLS handshake refused' && l.remote === `127.0.0.1:${failed.stdout}`);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.reason, 'tlsv1 alert unknown ca');
  assert.match(String(lines[0]!.hint), /the caller ended the handshake with this alert/);
  assert.equal(app.hits, before);
});

test('authorization: allowed routes pass, other routes and other identities get 403 and are counted', async () => {
  const simon = meshedClient('simon', strict.inbound!);
  const intruder = meshedClient('intruder', strict.inbound!);
  try {
    assert.equal((await get(simon, '/words/2')).status, 200);
    const post = await get(simon, '/words/2', 'POST');
    assert.equal(post.status, 403);
    assert.equal(post.error, 'FORBIDDEN');
    assert.equal((await get(intruder, '/words/2')).status, 403);
    const metrics = await strict.metrics();
    assert.equal(metricValue(metrics, 'meshwork_inbound_denied_total'), 2);
  } finally {
    await Promise.all([simon.close(), intruder.close()]);
  }
});

test('permissive mode takes plaintext (no caller identity) and mTLS (with one)', async () => {
  const { stdout } = await run('curl', ['-sS', '-H', 'Host: words', '-H', 'x-meshwork-client-id: forged', `http://${permissive.inbound}/plain`], { encoding: 'utf8' });
  assert.equal((JSON.parse(stdout) as { headers: Record<string, string> }).headers['x-meshwork-client-id'], undefined);
  const mesh = meshedClient('simon', permissive.inbound!);
  try {
    const result = await get(mesh, '/meshed');
    assert.equal(result.status, 200);
    assert.equal(result.body!.headers['x-meshwork-client-id'], SIMON);
  } finally {
    await mesh.close();
  }
});

/** A TLS server holding the words identity that counts the TCP connections it accepts. */
async function countingPeer(): Promise<{ address: string; connections(): number; close(): Promise<void> }> {
  const words = leafDirs.words!;
  let connections = 0;
  const server = createTlsServer({ cert: readFileSync(words.certFile), key: readFileSync(words.keyFile), ca: readFileSync(words.caFile), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => socket.destroy());
  server.on('connection', () => connections++);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const expiredAt = () => new Date(new X509Certificate(readFileSync(leafDirs.expired!.certFile)).validTo).toISOString();
const localExpiry = () => new RegExp(`TLS_FAILED: the local certificate ${SIMON.replace(/[/.]/g, '\\$&')} expired at ${expiredAt().replace(/[.]/g, '\\.')}; renew it \\(`);

test('a client whose own certificate has expired fails with TLS_FAILED naming the expiry, and opens no connection', async () => {
  const peer = await countingPeer();
  const mesh = meshedClient('expired', peer.address);
  try {
    await assert.rejects(get(mesh), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TLS_FAILED');
      assert.match(err.message, localExpiry());
      return true;
    });
    assert.equal(peer.connections(), 0);
  } finally {
    await mesh.close();
    await peer.close();
  }
});

test('a sidecar whose own certificate has expired logs it as an error and answers 502 TLS_FAILED with the expiry, without connecting', async () => {
  const peer = await countingPeer();
  const sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n${identityYaml(leafDirs.expired!)}  services:\n    words:\n      endpoints: ["${peer.address}"]\n      tls: { identity: "${WORDS}" }\n`,
  );
  try {
    const expiredLine = sidecar.logs.find((l) => l.msg === 'the identity certificate has expired; peers refuse it and new mTLS connections fail until it is renewed');
    assert.equal(expiredLine?.level, 'error');
    assert.equal(expiredLine?.notAfter, expiredAt());
    // HTTP/1.1, and gRPC, which goes on to the endpoint over HTTP/2.
    for (const extra of [[], ['--http2-prior-knowledge', '-H', 'content-type: application/grpc', '--data-binary', '']]) {
      const { stdout } = await run('curl', ['-sS', '-D', '-', ...extra, '-H', 'Host: words', `http://${sidecar.outbound}/words/1`], { encoding: 'utf8' });
      assert.match(stdout, /x-meshwork-error: TLS_FAILED/i);
      assert.match(stdout, localExpiry());
    }
    assert.equal(peer.connections(), 0);
  } finally {
    await sidecar.stop();
    await peer.close();
  }
});

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

/** Opens one connection to `address` (host:port) with an mTLS connector, as undici would. */
function connectWith(connector: ReturnType<typeof mtlsConnector>, address: string): Promise<TLSSocket> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise<TLSSocket>((resolve, reject) =>
    connector({ hostname: host, host, port, protocol: 'https:', servername: '' } as never, (err, s) => (err ? reject(err) : resolve(s as TLSSocket))),
  );
}

test('rotating the client\'s certificate under continuous traffic loses no request; new connections present the new one', async () => {
  await leaf('rotating', SIMON);
  const mesh = meshedClient('rotating', strict.inbound!);
  const failures: unknown[] = [];
  let sent = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const result = await get(mesh, '/words/rotate');
        if (result.status !== 200) failures.push(result.status);
      } catch (err) {
        failures.push(err);
      }
      sent++;
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  try {
    await sleep(200);
    const next = await issueLeaf(ca, SIMON);
    await writeLeaf(join(dir, 'rotating'), next, ca.root.certPem);
    for (let i = 0; i < 100 && mesh.identity!.current().version < 2; i++) await sleep(50);
    assert.equal(mesh.identity!.current().version, 2, 'the mesh picked up the new files');
    assert.equal(serialOf(mesh.identity!.current().certPem), serialOf(next.certPem));
    await sleep(200);
    running = false;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(sent > 20, `traffic kept flowing (${sent} requests)`);

    // A connection opened now presents the rotated certificate.
    const connector = mtlsConnector(mesh.identity!, { expected: [WORDS], timeoutMs: 5_000, allowH2: false });
    const socket = await connectWith(connector, strict.inbound!);
    assert.equal(socket.getCertificate() && (socket.getCertificate() as { serialNumber: string }).serialNumber, serialOf(next.certPem));
    socket.destroy();
  } finally {
    running = false;
    await Promise.all(workers);
    await mesh.close();
  }
});

test('the sidecar reloads its own certificate: new handshakes get the rotated one', async () => {
  const next = await issueLeaf(ca, WORDS);
  await writeLeaf(join(dir, 'words'), next, ca.root.certPem);
  for (let i = 0; i < 100 && !strict.logs.some((l) => l.msg === 'identity rotated'); i++) await sleep(50);
  assert.ok(strict.logs.some((l) => l.msg === 'identity rotated'));
  const [host, port] = strict.inbound!.split(':');
  const simon = leafDirs.simon!;
  const served = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host, port: Number(port), ca: readFileSync(simon.caFile), cert: readFileSync(simon.certFile), key: readFileSync(simon.keyFile), checkServerIdentity: () => undefined }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
  assert.equal(served, serialOf(next.certPem));
  // And meshed traffic still flows.
  const mesh = meshedClient('simon', strict.inbound!);
  try {
    assert.equal((await get(mesh)).status, 200);
  } finally {
    await mesh.close();
  }
});

test('mesh-sidecar identity init and issue (the real binary) write a CA and a leaf that serve mTLS, keys 0600', async () => {
  const caDir = join(dir, 'cli-ca');
  const outDir = join(dir, 'cli-leaf');
  assert.equal(runSidecarCli(['identity', 'init', '--dir', caDir, '--trust-domain', TD]).status, 0);
  const issued = runSidecarCli(['identity', 'issue', '--ca', caDir, '--name', WORDS, '--out', outDir, '--ttl', '2h']);
  assert.equal(issued.status, 0, issued.stderr);
  const { statSync } = await import('node:fs');
  for (const key of [join(caDir, 'ca.key'), join(caDir, 'issuer.key'), join(outDir, 'tls.key')]) assert.equal(statSync(key).mode & 0o777, 0o600, key);
  const cert = new X509Certificate(readFileSync(join(outDir, 'tls.crt')));
  assert.equal(cert.subjectAltName, `URI:${WORDS}`);
  assert.ok(Math.abs(new Date(cert.validTo).getTime() - Date.now() - 2 * 3600_000) < 120_000);
  // The CLI's CA is a different trust anchor: our meshed client, trusting the test CA, refuses it.
  const sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  identity: { certFile: "${join(outDir, 'tls.crt')}", keyFile: "${join(outDir, 'tls.key')}", trustAnchorsFile: "${join(outDir, 'ca.crt')}" }\n  services: {}\n`,
    ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app.address],
  );
  const mesh = meshedClient('simon', sidecar.inbound!);
  try {
    await assert.rejects(get(mesh), { code: 'TLS_FAILED' });
    const config = (await (await fetch(`http://${sidecar.admin}/config`)).json()) as { identity: { spiffeId: string }; sidecar: { inboundTls: string } };
    assert.equal(config.identity.spiffeId, WORDS);
    assert.equal(config.sidecar.inboundTls, 'strict');
  } finally {
    await mesh.close();
    await sidecar.stop();
  }
});

test('sidecar to sidecar: the caller\'s sidecar originates mTLS for a plaintext app', async () => {
  const callerSidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identityYaml(leafDirs.simon!)}  services:
    words:
      endpoints: ["${strict.inbound}"]
      tls: { identity: "${WORDS}" }
`,
  );
  try {
    for (const extra of [[], ['--http2-prior-knowledge']]) {
      const { stdout } = await run('curl', ['-sS', ...extra, '-H', 'Host: words', `http://${callerSidecar.outbound}/words/9`], { encoding: 'utf8' });
      const seen = (JSON.parse(stdout) as { headers: Record<string, string> }).headers;
      assert.equal(seen['x-meshwork-client-id'], SIMON);
    }
  } finally {
    await callerSidecar.stop();
  }
});

test('a reconnect resumes the TLS session instead of a full handshake', async () => {
  const source = (await import('../../src/tls/identity-source.js')).IdentitySource;
  const identity = await source.load({ certFile: leafDirs.simon!.certFile, keyFile: leafDirs.simon!.keyFile, trustAnchorsFile: leafDirs.simon!.caFile });
  try {
    const connector = mtlsConnector(identity, { expected: [WORDS], timeoutMs: 5_000, allowH2: false });
    const open = () => connectWith(connector, strict.inbound!);
    const first = await open();
    // TLS 1.3 tickets arrive after the handshake; undici's connector caches the session they carry.
    await new Promise((resolve) => (first.listenerCount('session') > 0 ? first.once('session', resolve) : setTimeout(resolve, 100)));
    await sleep(50);
    assert.equal(first.isSessionReused(), false);
    first.destroy();
    const second = await open();
    assert.equal(second.isSessionReused(), true);
    second.destroy();
  } finally {
    identity.close();
  }
});

test('an endpoint that discovery marks with an identity is reached over mTLS, and must prove that identity', async () => {
  const { writeFileSync } = await import('node:fs');
  const [host, port] = strict.inbound!.split(':') as [string, string];
  const eps = join(dir, 'words-endpoints.json');
  writeFileSync(eps, JSON.stringify([{ host, port: Number(port), identity: WORDS }]));
  const path = writeConfig(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identityYaml(leafDirs.simon!)}  services:
    words:
      discovery: file:${eps}
      retries: false
`,
    mkdtempSync(join(dir, 'client-')),
  );
  const mesh = createMesh({ config: path, watch: false });
  try {
    const result = await get(mesh, '/words/discovered');
    assert.equal(result.status, 200);
    assert.equal(result.body!.headers['x-meshwork-client-id'], SIMON);
  } finally {
    await mesh.close();
  }
  writeFileSync(eps, JSON.stringify([{ host, port: Number(port), identity: INTRUDER }]));
  const wrong = createMesh({ config: path, watch: false });
  try {
    await assert.rejects(get(wrong, '/words/discovered'), { code: 'TLS_FAILED' });
  } finally {
    await wrong.close();
  }
});

test('WebSocket over mTLS: the app learns the verified caller, a forged header is replaced, authorization applies', async () => {
  const { WebSocket, WebSocketServer } = await import('ws');
  const chat = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => chat.once('listening', resolve));
  chat.on('connection', (socket, req) => socket.send(`hello ${req.headers['x-meshwork-client-id']}`));
  const sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
${identityYaml(leafDirs.words!)}  sidecar:
    authorization:
      - { from: ["${SIMON}"], routes: [{ pathRegex: /chat }] }
  services: {}
`,
    ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', `127.0.0.1:${(chat.address() as { port: number }).port}`],
  );
  const open = (who: string) =>
    new Promise<string>((resolve) => {
      const files = leafDirs[who]!;
      const socket = new WebSocket(`wss://${sidecar.inbound}/chat`, {
        cert: readFileSync(files.certFile),
        key: readFileSync(files.keyFile),
        ca: readFileSync(files.caFile),
        // The sidecar is checked by its SPIFFE ID elsewhere; here the host name plays no part.
        checkServerIdentity: (() => undefined) as never,
        headers: { 'x-meshwork-client-id': 'spiffe://forged/ns/x/sa/y' },
      });
      socket.once('message', (data) => {
        resolve(String(data));
        socket.close();
      });
      socket.once('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode} ${res.headers['x-meshwork-error']}`));
      socket.once('error', (err) => resolve(`error ${err.message}`));
    });
  try {
    assert.equal(await open('simon'), `hello ${SIMON}`);
    assert.equal(await open('intruder'), 'refused 403 FORBIDDEN');
  } finally {
    await sidecar.stop();
    chat.close();
  }
});

test('a standalone meshClient takes its identity in code (IdentitySource) and speaks mTLS', async () => {
  const { IdentitySource, meshClient } = await import('../../src/index.js');
  const simon = leafDirs.simon!;
  const identity = await IdentitySource.load({ certFile: simon.certFile, keyFile: simon.keyFile, trustAnchorsFile: simon.caFile });
  const client = meshClient('words', { endpoints: [strict.inbound!], tls: { identity: WORDS }, identity });
  try {
    const res = await client.request({ method: 'GET', path: '/words/code' });
    const seen = (await res.body.json()) as { headers: Record<string, string> };
    assert.equal(res.statusCode, 200);
    assert.equal(seen.headers['x-meshwork-client-id'], SIMON);
    assert.throws(() => meshClient('words', { endpoints: [strict.inbound!], tls: { identity: WORDS } }), /has no identity of its own/);
  } finally {
    await client.close();
    identity.close();
  }
});

test('gRPC between two sidecars over mTLS (HTTP/2 by ALPN), from a plaintext grpc-js client', async () => {
  const grpc = await import('@grpc/grpc-js');
  const identityFn = (b: Buffer) => b;
  const definition = { echo: { path: '/t.E/Echo', requestStream: false, responseStream: false, requestSerialize: identityFn, requestDeserialize: identityFn, responseSerialize: identityFn, responseDeserialize: identityFn } };
  const server = new grpc.Server();
  server.addService(definition, {
    echo: (call: { request: Buffer; metadata: { get(k: string): unknown[] } }, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.from(`${call.request.toString()} from ${String(call.metadata.get('x-meshwork-client-id')[0])}`)),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const serverSidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n${identityYaml(leafDirs.words!)}  services: {}\n`, ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', `127.0.0.1:${port}`]);
  const clientSidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n${identityYaml(leafDirs.simon!)}  services:\n    echo:\n      endpoints: ["${serverSidecar.inbound}"]\n      tls: { identity: "${WORDS}" }\n`,
  );
  const Client = grpc.makeGenericClientConstructor(definition, 'E');
  const client = new Client(clientSidecar.outbound, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo' }) as unknown as { echo: (r: Buffer, cb: (e: Error | null, r: Buffer) => void) => void; close(): void };
  try {
    const reply = await new Promise<string>((resolve, reject) => client.echo(Buffer.from('hi'), (err, r) => (err ? reject(err) : resolve(r.toString()))));
    assert.equal(reply, `hi from ${SIMON}`);
  } finally {
    client.close();
    await clientSidecar.stop();
    await serverSidecar.stop();
    server.forceShutdown();
  }
});

test('the admin summary shows the verified caller as an edge into the sidecar, which is named by its own identity', async () => {
  const mesh = meshedClient('simon', strict.inbound!);
  try {
    assert.equal((await get(mesh)).status, 200);
  } finally {
    await mesh.close();
  }
  const summary = (await (await fetch(`http://${strict.admin}/api/summary`)).json()) as { self: string; edges: { from: string; to: string; requests: number }[]; services: { direction: string }[] };
  assert.equal(summary.self, WORDS);
  const edge = summary.edges.find((e) => e.from === SIMON);
  assert.ok(edge && edge.to === WORDS && edge.requests >= 1, JSON.stringify(summary.edges));
  assert.ok(summary.services.some((s) => s.direction === 'inbound'));
});

import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { isMeshError } from '../../src/core/errors.js';
import { certificateNotAfter, createAuthority, issueLeaf, type CertificateAuthority, type IssuedLeaf } from '../../src/tls/certificate-authority.js';
import { spiffeIdOfSubjectAltName } from '../../src/tls/spiffe-id.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TD = 'cluster.local';
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const API = `spiffe://${TD}/ns/prod/sa/api`;

const caPromise = createAuthority({ trustDomain: TD });
const otherCaPromise = createAuthority({ trustDomain: TD });

function extension<T extends x509.Extension>(pem: string, type: new (raw: ArrayBuffer) => T): T {
  const ext = new x509.X509Certificate(pem).getExtension(type);
  assert.ok(ext, `certificate has no ${type.name}`);
  return ext;
}

test('the trust anchor is a self-signed P-256 CA for about a year; the issuer is its pathLen-0 intermediate with a shorter life', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const ca = await createAuthority({ trustDomain: TD, now });
  const root = new X509Certificate(ca.root.certPem);
  const issuer = new X509Certificate(ca.issuer.certPem);

  assert.equal(ca.trustDomain, TD);
  assert.ok(root.ca);
  assert.ok(root.verify(root.publicKey), 'root is self-signed');
  assert.ok(root.checkIssued(root));
  assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(extension(ca.root.certPem, x509.BasicConstraintsExtension).pathLength, undefined);
  assert.ok(extension(ca.root.certPem, x509.BasicConstraintsExtension).critical);
  assert.equal(extension(ca.root.certPem, x509.KeyUsagesExtension).usages & x509.KeyUsageFlags.keyCertSign, x509.KeyUsageFlags.keyCertSign);

  assert.ok(issuer.ca);
  assert.ok(issuer.checkIssued(root));
  assert.ok(issuer.verify(root.publicKey), 'issuer is signed by the root');
  assert.ok(!issuer.verify(issuer.publicKey), 'issuer is not self-signed');
  assert.equal(issuer.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(extension(ca.issuer.certPem, x509.BasicConstraintsExtension).pathLength, 0);
  assert.equal(extension(ca.issuer.certPem, x509.KeyUsagesExtension).usages & x509.KeyUsageFlags.keyCertSign, x509.KeyUsageFlags.keyCertSign);

  const rootEnds = certificateNotAfter(ca.root.certPem).getTime();
  const issuerEnds = certificateNotAfter(ca.issuer.certPem).getTime();
  assert.equal(rootEnds, now.getTime() + 365 * DAY);
  assert.ok(issuerEnds < rootEnds && issuerEnds > now.getTime() + 300 * DAY, 'issuer: most of a year, ending before the root');
  assert.equal(new Date(root.validFrom).getTime(), now.getTime() - 60_000, 'a minute of clock skew');
  assert.ok(ca.root.keyPem.startsWith('-----BEGIN PRIVATE KEY-----'));
  assert.notEqual(ca.root.keyPem, ca.issuer.keyPem);
});

test('an issuer may not outlive its trust anchor; trust domains are validated', async () => {
  await assert.rejects(createAuthority({ trustDomain: TD, rootTtlMs: 10 * DAY, issuerTtlMs: 20 * DAY }), (err) => isMeshError(err, 'INVALID_OPTIONS') && /must not exceed/.test(err.message));
  // A short root alone gives an issuer that fits inside it.
  const short = await createAuthority({ trustDomain: TD, rootTtlMs: 10 * DAY });
  assert.ok(certificateNotAfter(short.issuer.certPem) <= certificateNotAfter(short.root.certPem));
  for (const bad of ['Cluster.local', 'td/ns', 'td:443', '', 'a b']) {
    await assert.rejects(createAuthority({ trustDomain: bad }), (err) => isMeshError(err, 'INVALID_OPTIONS'), bad);
  }
});

test('a leaf: P-256, the SPIFFE ID as its only URI SAN, 24 h by default, client and server auth, not a CA, verified by the issuer', async () => {
  const ca = await caPromise;
  const now = new Date();
  const leaf = await issueLeaf(ca, WEB, { now, dnsNames: ['web.prod.svc'] });
  const cert = new X509Certificate(leaf.certPem);
  const issuer = new X509Certificate(ca.issuer.certPem);
  const root = new X509Certificate(ca.root.certPem);

  assert.equal(leaf.spiffeId, WEB);
  assert.equal(cert.subjectAltName, `URI:${WEB}, DNS:web.prod.svc`);
  assert.equal(spiffeIdOfSubjectAltName(cert.subjectAltName), WEB);
  assert.ok(extension(leaf.certPem, x509.SubjectAlternativeNameExtension).critical, 'critical, since the subject is empty');
  assert.ok(!cert.ca);
  assert.ok(cert.checkIssued(issuer));
  assert.ok(cert.verify(issuer.publicKey));
  assert.ok(!cert.verify(root.publicKey), 'signed by the issuer, not the root');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(extension(leaf.certPem, x509.KeyUsagesExtension).usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(extension(leaf.certPem, x509.BasicConstraintsExtension).ca, false);

  assert.equal(leaf.notBefore.getTime(), Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  assert.equal(leaf.notAfter.getTime(), Math.floor(now.getTime() / 1000) * 1000 + DAY);
  assert.equal(new Date(cert.validTo).getTime(), leaf.notAfter.getTime());
  assert.equal(certificateNotAfter(leaf.chainPem).getTime(), leaf.notAfter.getTime());

  // chainPem is what a proxy presents: the leaf, then the issuer.
  assert.equal(leaf.chainPem, leaf.certPem + ca.issuer.certPem);

  const again = await issueLeaf(ca, WEB);
  assert.notEqual(new X509Certificate(again.certPem).serialNumber, cert.serialNumber, 'random serials');
  assert.notEqual(again.keyPem, leaf.keyPem, 'a fresh key each time');
});

test('leaf options and refusals', async () => {
  const ca = await caPromise;
  const now = new Date();
  const oneHour = await issueLeaf(ca, API, { ttlMs: HOUR, now });
  assert.equal(oneHour.notAfter.getTime() - oneHour.notBefore.getTime(), HOUR + 60_000);

  // Never valid beyond the issuer.
  const long = await issueLeaf(ca, API, { ttlMs: 5 * 365 * DAY });
  assert.equal(long.notAfter.getTime(), certificateNotAfter(ca.issuer.certPem).getTime());

  const refused: [string, object, RegExp][] = [
    ['spiffe://other.domain/ns/a/sa/b', {}, /trust domain other.domain/],
    [`spiffe://${TD}`, {}, /needs a path/],
    ['not-an-id', {}, /invalid SPIFFE ID/],
    [WEB, { ttlMs: 0 }, /positive duration/],
    [WEB, { dnsNames: ['bad name'] }, /invalid DNS name/],
  ];
  for (const [id, options, message] of refused) {
    await assert.rejects(issueLeaf(ca, id, options), (err) => isMeshError(err, 'INVALID_OPTIONS') && message.test(err.message), `${id} ${JSON.stringify(options)}`);
  }
  await assert.rejects(issueLeaf(ca, WEB, { now: new Date(Date.now() + 2 * 365 * DAY) }), (err) => isMeshError(err, 'INVALID_CONFIG') && /issuer certificate expired/.test(err.message));
});

interface Outcome {
  /** What each side's handshake callback saw; undefined when that side never got a verified connection. */
  serverSawPeer?: string;
  clientSawPeer?: string;
  protocol?: string | null;
  greeting: string;
  /** Why the server's check of the client failed; only reachable with rejectUnauthorized off, since Node otherwise drops the connection without a reason. */
  serverAuthorizationError?: string;
  serverError?: Error;
  clientError?: Error;
}

interface Side {
  leaf: IssuedLeaf;
  trustAnchors: string;
}

/** The check a mesh client makes instead of hostname verification: the server must hold the expected SPIFFE ID. */
function expectServerId(expected: string) {
  return (_host: string, cert: tls.PeerCertificate): Error | undefined => {
    const id = spiffeIdOfSubjectAltName(cert.subjectaltname);
    return id === expected ? undefined : new Error(`server is ${id ?? 'unidentified'}, expected ${expected}`);
  };
}

async function handshake(server: Side, client: Side, clientOptions: tls.ConnectionOptions = {}, serverOptions: tls.TlsOptions = {}): Promise<Outcome> {
  const outcome: Outcome = { greeting: '' };
  const listener = tls.createServer(
    { key: server.leaf.keyPem, cert: server.leaf.chainPem, ca: server.trustAnchors, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ...serverOptions },
    (socket) => {
      if (!socket.authorized) {
        outcome.serverAuthorizationError = String(socket.authorizationError);
        socket.destroy();
        return;
      }
      outcome.serverSawPeer = spiffeIdOfSubjectAltName(socket.getPeerCertificate().subjectaltname);
      socket.end('hello');
    },
  );
  listener.on('tlsClientError', (err) => {
    outcome.serverError = err;
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      key: client.leaf.keyPem,
      cert: client.leaf.chainPem,
      ca: client.trustAnchors,
      minVersion: 'TLSv1.3',
      checkServerIdentity: expectServerId(server.leaf.spiffeId),
      ...clientOptions,
    });
    socket.on('secureConnect', () => {
      outcome.clientSawPeer = spiffeIdOfSubjectAltName(socket.getPeerCertificate().subjectaltname);
      outcome.protocol = socket.getProtocol();
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      outcome.greeting += chunk;
    });
    socket.on('error', (err) => {
      outcome.clientError = err;
    });
    socket.on('close', () => resolve());
  });
  // close() waits for the server's side of the connection too, so tlsClientError has been seen.
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  return outcome;
}

test('mutual TLS 1.3 between two workloads of one CA: both verify, and each learns the other\'s SPIFFE ID', async () => {
  const ca = await caPromise;
  const web = await issueLeaf(ca, WEB);
  const api = await issueLeaf(ca, API);
  const outcome = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: web, trustAnchors: ca.root.certPem });
  assert.equal(outcome.clientError, undefined);
  assert.equal(outcome.serverError, undefined);
  assert.equal(outcome.protocol, 'TLSv1.3');
  assert.equal(outcome.serverSawPeer, WEB);
  assert.equal(outcome.clientSawPeer, API);
  assert.equal(outcome.greeting, 'hello');
});

test('the client refuses a server that is not the identity it expected', async () => {
  const ca = await caPromise;
  const web = await issueLeaf(ca, WEB);
  const api = await issueLeaf(ca, API);
  const outcome = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: web, trustAnchors: ca.root.certPem }, { checkServerIdentity: expectServerId(`spiffe://${TD}/ns/prod/sa/db`) });
  assert.match(String(outcome.clientError), /server is spiffe:\/\/cluster.local\/ns\/prod\/sa\/api, expected .*sa\/db/);
  assert.equal(outcome.greeting, '');
});

test('DNS names in a leaf satisfy ordinary hostname verification too', async () => {
  const ca = await caPromise;
  const web = await issueLeaf(ca, WEB);
  const api = await issueLeaf(ca, API, { dnsNames: ['api.prod.svc'] });
  const { checkServerIdentity } = tls;
  const outcome = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: web, trustAnchors: ca.root.certPem }, { servername: 'api.prod.svc', checkServerIdentity });
  assert.equal(outcome.clientError, undefined);
  assert.equal(outcome.greeting, 'hello');
});

test('a client whose certificate comes from another CA is rejected by the server', async () => {
  const ca = await caPromise;
  const other = await otherCaPromise;
  const api = await issueLeaf(ca, API);
  const intruder = await issueLeaf(other, WEB);
  // The intruder trusts the real root, so only the server's check of the client can stop it.
  const outcome = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: intruder, trustAnchors: ca.root.certPem });
  // In TLS 1.3 the client's handshake is done before the server has checked its certificate; the
  // server then drops the connection and the handler never runs.
  assert.ok(outcome.serverError, 'the server reports a client error');
  assert.equal(outcome.serverSawPeer, undefined, 'the connection never reached the server handler');
  assert.equal(outcome.serverAuthorizationError, undefined);
  assert.equal(outcome.greeting, '');
  // The reason, which Node only exposes when it lets the connection through:
  const why = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: intruder, trustAnchors: ca.root.certPem }, {}, { rejectUnauthorized: false });
  assert.equal(why.serverAuthorizationError, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
});

test('a server whose certificate comes from another CA is rejected by the client', async () => {
  const ca = await caPromise;
  const other = await otherCaPromise;
  const web = await issueLeaf(ca, WEB);
  const impostor = await issueLeaf(other, API);
  const outcome = await handshake({ leaf: impostor, trustAnchors: ca.root.certPem }, { leaf: web, trustAnchors: ca.root.certPem });
  assert.equal((outcome.clientError as NodeJS.ErrnoException | undefined)?.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  assert.equal(outcome.greeting, '');
});

test('expired leaves are rejected in the handshake, on either side', async () => {
  const ca: CertificateAuthority = await caPromise;
  const twoDaysAgo = new Date(Date.now() - 2 * DAY);
  const expiredApi = await issueLeaf(ca, API, { now: twoDaysAgo, ttlMs: HOUR });
  const expiredWeb = await issueLeaf(ca, WEB, { now: twoDaysAgo, ttlMs: HOUR });
  assert.ok(expiredApi.notAfter.getTime() < Date.now());

  const web = await issueLeaf(ca, WEB);
  const api = await issueLeaf(ca, API);
  const serverExpired = await handshake({ leaf: expiredApi, trustAnchors: ca.root.certPem }, { leaf: web, trustAnchors: ca.root.certPem });
  assert.equal((serverExpired.clientError as NodeJS.ErrnoException | undefined)?.code, 'CERT_HAS_EXPIRED');
  assert.equal(serverExpired.greeting, '');

  const clientExpired = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: expiredWeb, trustAnchors: ca.root.certPem });
  assert.ok(clientExpired.serverError);
  assert.equal(clientExpired.serverSawPeer, undefined);
  assert.equal(clientExpired.greeting, '');
  const why = await handshake({ leaf: api, trustAnchors: ca.root.certPem }, { leaf: expiredWeb, trustAnchors: ca.root.certPem }, {}, { rejectUnauthorized: false });
  assert.equal(why.serverAuthorizationError, 'CERT_HAS_EXPIRED');
});

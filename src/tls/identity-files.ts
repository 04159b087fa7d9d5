/**
 * The on-disk layout of a CA directory (ca.crt, ca.key, issuer.crt, issuer.key) and of a workload's
 * identity directory (tls.crt, tls.key, ca.crt), the names Kubernetes TLS secrets and Linkerd use.
 * Private keys are 0600 and certificates 0644 whatever umask or an earlier file said.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '../core/errors.js';
import { assertKeyMatchesCertificate, type CertificateAuthority, type IssuedLeaf } from './certificate-authority.js';
import { parseSpiffeId } from './spiffe-id.js';

export const CA_FILES = { rootCert: 'ca.crt', rootKey: 'ca.key', issuerCert: 'issuer.crt', issuerKey: 'issuer.key' } as const;
export const LEAF_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
// POSIX permission bits mean little on Windows, where Node reports 0666 for every writable file.
const CHECK_MODES = process.platform !== 'win32';

/**
 * Written to a temporary file and renamed into place, so a proxy reloading its certificate never
 * reads half a file, and the key's mode is set before any byte of it is on disk. The rename also
 * replaces whatever file (and mode) was there before instead of inheriting it.
 */
async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    // open()'s mode is filtered by the umask; a 0644 certificate must stay readable by the proxy's user.
    await handle.chmod(mode);
    await handle.writeFile(content);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

async function readRequired(dir: string, name: string, hint: string): Promise<string> {
  const path = join(dir, name);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MeshError('INVALID_CONFIG', `${path} is missing; ${hint}`, { cause: err });
    throw new MeshError('INVALID_CONFIG', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** A private key others can read is as good as leaked, so it is refused the way ssh refuses one. */
async function assertPrivate(path: string): Promise<void> {
  if (!CHECK_MODES) return;
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new MeshError('INVALID_CONFIG', `${path} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`);
  }
}

function certificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** CA certificates made by createAuthority carry spiffe://<trust-domain> as their URI SAN. */
function trustDomainOf(cert: X509Certificate): string | undefined {
  const match = /(?:^|, )URI:(spiffe:\/\/[^,/]+)(?:,|$)/.exec(cert.subjectAltName ?? '');
  if (match === null) return undefined;
  try {
    return parseSpiffeId(match[1]!).trustDomain;
  } catch {
    return undefined;
  }
}

export async function writeAuthority(dir: string, ca: CertificateAuthority): Promise<void> {
  // The directory holds the keys that can mint any identity in the mesh.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(dir, CA_FILES.rootKey), ca.root.keyPem, KEY_MODE);
  await writeFileAtomic(join(dir, CA_FILES.issuerKey), ca.issuer.keyPem, KEY_MODE);
  await writeFileAtomic(join(dir, CA_FILES.rootCert), ca.root.certPem, CERT_MODE);
  await writeFileAtomic(join(dir, CA_FILES.issuerCert), ca.issuer.certPem, CERT_MODE);
}

/**
 * Reads and checks a CA directory: every file present, keys private, each key belonging to its
 * certificate and the issuer signed by a trust anchor in ca.crt, so a broken CA is reported here,
 * by file name, rather than as a failed handshake later. `trustDomain` is needed only for CA
 * certificates made elsewhere, which do not name their trust domain.
 */
export async function readAuthority(dir: string, options: { trustDomain?: string } = {}): Promise<CertificateAuthority> {
  const hint = `create the CA with: mesh-sidecar identity init --dir ${dir} --trust-domain <domain>`;
  const rootCertPem = await readRequired(dir, CA_FILES.rootCert, hint);
  const rootKeyPem = await readRequired(dir, CA_FILES.rootKey, hint);
  const issuerCertPem = await readRequired(dir, CA_FILES.issuerCert, hint);
  const issuerKeyPem = await readRequired(dir, CA_FILES.issuerKey, hint);
  await assertPrivate(join(dir, CA_FILES.rootKey));
  await assertPrivate(join(dir, CA_FILES.issuerKey));
  assertKeyMatchesCertificate(rootCertPem, rootKeyPem, `trust anchor (${join(dir, CA_FILES.rootCert)})`);
  assertKeyMatchesCertificate(issuerCertPem, issuerKeyPem, `issuer (${join(dir, CA_FILES.issuerCert)})`);

  const issuer = new X509Certificate(issuerCertPem);
  const anchors = certificates(rootCertPem).map((pem) => new X509Certificate(pem));
  if (!anchors.some((anchor) => issuer.checkIssued(anchor) && issuer.verify(anchor.publicKey))) {
    throw new MeshError('INVALID_CONFIG', `${join(dir, CA_FILES.issuerCert)} is not signed by a trust anchor in ${join(dir, CA_FILES.rootCert)}`);
  }

  const named = trustDomainOf(issuer) ?? (anchors[0] === undefined ? undefined : trustDomainOf(anchors[0]));
  if (named !== undefined && options.trustDomain !== undefined && named !== options.trustDomain) {
    throw new MeshError('INVALID_CONFIG', `the CA in ${dir} is for trust domain ${named}, not ${options.trustDomain}`);
  }
  const trustDomain = named ?? options.trustDomain;
  if (trustDomain === undefined) {
    throw new MeshError('INVALID_CONFIG', `the certificates in ${dir} do not name a trust domain (no spiffe://<domain> URI SAN); give it explicitly`);
  }
  return { trustDomain, root: { certPem: rootCertPem, keyPem: rootKeyPem }, issuer: { certPem: issuerCertPem, keyPem: issuerKeyPem } };
}

export async function writeLeaf(dir: string, leaf: IssuedLeaf, trustAnchorsPem: string): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, LEAF_FILES.cert);
  const keyFile = join(dir, LEAF_FILES.key);
  const caFile = join(dir, LEAF_FILES.ca);
  // Key first: a proxy that reloads when tls.crt changes then finds the matching key already there.
  await writeFileAtomic(keyFile, leaf.keyPem, KEY_MODE);
  await writeFileAtomic(certFile, leaf.chainPem, CERT_MODE);
  await writeFileAtomic(caFile, trustAnchorsPem, CERT_MODE);
  return { certFile, keyFile, caFile };
}

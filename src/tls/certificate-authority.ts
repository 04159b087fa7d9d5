/**
 * A small two-level CA in the shape Linkerd uses: a long-lived trust anchor (the root every proxy
 * trusts) that only ever signs an issuer, and the issuer that signs the short-lived workload
 * certificates (X.509-SVIDs). Keeping the anchor's key out of day-to-day issuing means the issuer
 * can be rotated, or replaced after a leak, without re-distributing trust to every workload.
 */
// @peculiar/x509 decorates its ASN.1 classes at load time, which needs the metadata polyfill first.
import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { MeshError } from '../core/errors.js';
import { parseSpiffeId } from './spiffe-id.js';

export interface PemPair { certPem: string; keyPem: string }
export interface CertificateAuthority { trustDomain: string; root: PemPair; issuer: PemPair }
export interface IssuedLeaf extends PemPair { chainPem: string /* leaf + issuer PEMs */; spiffeId: string; notAfter: Date; notBefore: Date }

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams | { name: string };

const crypto = webcrypto;
// Node's WebCrypto is a complete provider; setting it explicitly keeps @peculiar/x509 from looking
// for a browser global.
x509.cryptoProvider.set(crypto as ReturnType<typeof x509.cryptoProvider.get>);

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const DEFAULT_ROOT_TTL_MS = 365 * DAY_MS;
// A week shorter than the anchor, so an issuer made with it never outlives what verifies it.
const DEFAULT_ISSUER_TTL_MS = 358 * DAY_MS;
const DEFAULT_LEAF_TTL_MS = 24 * HOUR_MS;
// Peers whose clocks run a little behind must not see a brand-new certificate as not yet valid.
const CLOCK_SKEW_MS = 60_000;

const EC_P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

function toPem(der: ArrayBuffer, tag: string): string {
  return `${x509.PemConverter.encode(der, tag).trim()}\n`;
}

function certPem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trim()}\n`;
}

function randomSerial(): string {
  // 128 random bits (CA/B forum asks for at least 64); the top bit is cleared so the DER INTEGER
  // stays positive and the bottom bit of the first byte set so it never has a leading zero byte.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

interface Signer {
  key: CryptoKey;
  signingAlgorithm: SigningAlgorithm;
}

/**
 * The CA's keys may come from files someone else made (openssl writes SEC1 "EC PRIVATE KEY" by
 * default), so they go through Node's key parser, which reads every PEM flavour, before WebCrypto.
 */
async function importSigner(keyPem: string, what: string): Promise<Signer> {
  let keyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `the ${what} private key is not a readable PEM private key`, { cause: err });
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const type = keyObject.asymmetricKeyType;
  if (type === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (namedCurve === undefined) throw new MeshError('INVALID_CONFIG', `the ${what} key uses curve ${curve ?? 'unknown'}; use P-256 or P-384`);
    const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
    return { key, signingAlgorithm: { name: 'ECDSA', hash: namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' } };
  }
  if (type === 'rsa') {
    const key = await crypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { key, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new MeshError('INVALID_CONFIG', `the ${what} key is of type ${type ?? 'unknown'}; use an ECDSA (P-256) or RSA key`);
}

function firstCertificate(pem: string, what: string): x509.X509Certificate {
  try {
    const der = x509.PemConverter.decode(pem)[0];
    if (der === undefined) throw new Error('no PEM block');
    return new x509.X509Certificate(der);
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `the ${what} is not a PEM certificate`, { cause: err });
  }
}

function validity(now: Date, ttlMs: number, what: string): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new MeshError('INVALID_OPTIONS', `the ${what} lifetime must be a positive duration (got ${ttlMs} ms)`);
  return { notBefore: new Date(now.getTime() - CLOCK_SKEW_MS), notAfter: new Date(now.getTime() + ttlMs) };
}

/** The trust domain's own SPIFFE ID in a CA certificate lets readAuthority recover the trust domain from the files alone. */
function caExtensions(trustDomain: string): x509.Extension[] {
  return [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }], false)];
}

export async function createAuthority(options: { trustDomain: string; rootTtlMs?: number; issuerTtlMs?: number; now?: Date }): Promise<CertificateAuthority> {
  const id = parseSpiffeId(`spiffe://${options.trustDomain}`);
  if (id.path !== '' || id.trustDomain !== options.trustDomain) {
    throw new MeshError('INVALID_OPTIONS', `invalid trust domain ${JSON.stringify(options.trustDomain)}: expected a name like cluster.local`);
  }
  const trustDomain = id.trustDomain;
  const now = options.now ?? new Date();
  const rootTtlMs = options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
  const issuerTtlMs = options.issuerTtlMs ?? Math.min(DEFAULT_ISSUER_TTL_MS, rootTtlMs);
  const rootValidity = validity(now, rootTtlMs, 'trust anchor');
  const issuerValidity = validity(now, issuerTtlMs, 'issuer');
  if (issuerValidity.notAfter > rootValidity.notAfter) {
    throw new MeshError('INVALID_OPTIONS', `the issuer lifetime (${issuerTtlMs} ms) must not exceed the trust anchor's (${rootTtlMs} ms): certificates it signs would stop verifying early`);
  }

  const rootKeys = await newKeyPair();
  const rootName: Record<string, string[]>[] = [{ O: [trustDomain] }, { CN: [`${trustDomain} trust anchor`] }];
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: rootName,
    ...rootValidity,
    keys: rootKeys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      ...caExtensions(trustDomain),
    ],
  });

  const issuerKeys = await newKeyPair();
  const issuer = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ O: [trustDomain] }, { CN: [`${trustDomain} issuer`] }],
    issuer: root.subject,
    ...issuerValidity,
    publicKey: issuerKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      // pathLen 0: the issuer signs workloads only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(issuerKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
      ...caExtensions(trustDomain),
    ],
  });

  return {
    trustDomain,
    root: { certPem: certPem(root), keyPem: await exportKeyPem(rootKeys.privateKey) },
    issuer: { certPem: certPem(issuer), keyPem: await exportKeyPem(issuerKeys.privateKey) },
  };
}

export async function issueLeaf(ca: CertificateAuthority, spiffeId: string, options: { ttlMs?: number; now?: Date; dnsNames?: string[] } = {}): Promise<IssuedLeaf> {
  const id = parseSpiffeId(spiffeId);
  if (id.path === '') {
    throw new MeshError('INVALID_OPTIONS', `${spiffeId} names a whole trust domain; a workload identity needs a path, e.g. spiffe://${id.trustDomain}/ns/default/sa/web`);
  }
  if (id.trustDomain !== ca.trustDomain) {
    throw new MeshError('INVALID_OPTIONS', `${spiffeId} is in trust domain ${id.trustDomain}, but this CA issues for ${ca.trustDomain}`);
  }
  const dnsNames = options.dnsNames ?? [];
  for (const name of dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name)) {
      throw new MeshError('INVALID_OPTIONS', `invalid DNS name ${JSON.stringify(name)}`);
    }
  }
  const now = options.now ?? new Date();
  const issuerCert = firstCertificate(ca.issuer.certPem, 'issuer certificate');
  if (now >= issuerCert.notAfter) {
    throw new MeshError('INVALID_CONFIG', `the issuer certificate expired on ${issuerCert.notAfter.toISOString()}; create a new one before issuing`);
  }
  const signer = await importSigner(ca.issuer.keyPem, 'issuer');
  let { notBefore, notAfter } = validity(now, options.ttlMs ?? DEFAULT_LEAF_TTL_MS, 'certificate');
  // A leaf can never be valid longer than its issuer, so say so in the certificate rather than
  // hand out one whose stated lifetime is a lie.
  if (notAfter > issuerCert.notAfter) notAfter = issuerCert.notAfter;

  const keys = await newKeyPair();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // Empty subject, as X.509-SVIDs usually have: the identity lives in the SAN, which is
    // therefore critical (RFC 5280 4.2.1.6).
    subject: [],
    issuer: issuerCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id.toString() }, ...dnsNames.map((value) => ({ type: 'dns' as const, value }))], true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await issuerCert.publicKey.export()),
    ],
  });

  const leafPem = certPem(leaf);
  return {
    certPem: leafPem,
    keyPem: await exportKeyPem(keys.privateKey),
    chainPem: leafPem + certPem(issuerCert),
    spiffeId: id.toString(),
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}

/** notAfter of the first certificate in a PEM (for expiry warnings). */
export function certificateNotAfter(pem: string): Date {
  return firstCertificate(pem, 'certificate').notAfter;
}

/** Throws unless `keyPem` is the private key of the first certificate in `certPem`; a mismatched pair fails late and obscurely in a handshake. */
export function assertKeyMatchesCertificate(certPem: string, keyPem: string, what: string): void {
  let certKey: Buffer;
  let ownKey: Buffer;
  try {
    certKey = new NodeX509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `the ${what} certificate is not a PEM certificate`, { cause: err });
  }
  try {
    ownKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `the ${what} private key is not a readable PEM private key`, { cause: err });
  }
  if (!certKey.equals(ownKey)) throw new MeshError('INVALID_CONFIG', `the ${what} private key does not belong to the ${what} certificate`);
}

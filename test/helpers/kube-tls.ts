/**
 * A cluster CA as a test API server needs one: a self-signed CA, a serving certificate for
 * 127.0.0.1 (an IP SAN, as a real API server's certificate has for its Service IP), and a client
 * certificate such as a kubeconfig user carries. Made fresh per test run, so nothing expires in the repo.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as ReturnType<typeof x509.cryptoProvider.get>);

export interface ClusterTls {
  caPem: string;
  server: { certPem: string; keyPem: string };
  client: { certPem: string; keyPem: string; commonName: string };
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY').trim()}\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

export async function makeClusterTls(): Promise<ClusterTls> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + DAY) };
  const caKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=kubernetes-test-ca',
    ...validity,
    keys: caKeys,
    signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leaf = async (name: string, usage: x509.ExtendedKeyUsage, san: x509.JsonGeneralName[]) => {
    const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: name,
      issuer: ca.subject,
      ...validity,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage], false),
        ...(san.length > 0 ? [new x509.SubjectAlternativeNameExtension(san, false)] : []),
      ],
    });
    return { certPem: `${cert.toString('pem').trim()}\n`, keyPem: await keyPem(keys.privateKey) };
  };
  const server = await leaf('CN=kube-apiserver', x509.ExtendedKeyUsage.serverAuth, [
    { type: 'ip', value: '127.0.0.1' },
    { type: 'dns', value: 'localhost' },
  ]);
  const commonName = 'meshwork-test-user';
  const client = await leaf(`CN=${commonName}, O=system:masters`, x509.ExtendedKeyUsage.clientAuth, []);
  return { caPem: `${ca.toString('pem').trim()}\n`, server, client: { ...client, commonName } };
}

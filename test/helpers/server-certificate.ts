/**
 * Self-signed server certificates for tests of TLS listeners: a subject CN to tell certificates
 * apart by what a client is served, and the DNS names it is valid for (ECDSA P-256, one day).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as ReturnType<typeof x509.cryptoProvider.get>);

export interface ServerCertificateFiles {
  certFile: string;
  keyFile: string;
  certPem: string;
}

/** Writes `<name>.crt` and `<name>.key` into `dir`. */
export async function writeServerCertificate(dir: string, name: string, cn: string, dnsNames: string[]): Promise<ServerCertificateFiles> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^./, '1'),
    name: `CN=${cn}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns' as const, value })))],
  });
  const certPem = `${cert.toString('pem').trim()}\n`;
  const keyPem = `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY').trim()}\n`;
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem);
  return { certFile, keyFile, certPem };
}

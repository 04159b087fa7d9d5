/**
 * Why an mTLS caller was turned away, in words an operator can act on. Node's own
 * `rejectUnauthorized` drops a caller whose certificate does not verify after the handshake and
 * reports only `socket hang up`, the same as a caller that disconnected; the verification result
 * (`authorizationError`, an OpenSSL verify code) is readable only on a connection that was let
 * through. So the inbound listener lets the handshake finish, judges the certificate here, and
 * refuses with the reason, the caller's address and what its certificate says.
 */
import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { LogFields } from '../core/logger.js';
import { formatHostPort } from '../config/listen-address.js';
import { spiffeIdOfSubjectAltName } from '../tls/spiffe-id.js';

/** OpenSSL's own text for the verify codes a client certificate can fail with (x509_txt.c, OpenSSL 3). */
const VERIFY_ERROR_TEXT: Record<string, string> = {
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_HAS_EXPIRED: 'certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  CERT_CHAIN_TOO_LONG: 'certificate chain too long',
  INVALID_CA: 'invalid CA certificate',
  PATH_LENGTH_EXCEEDED: 'path length constraint exceeded',
  INVALID_PURPOSE: 'unsuitable certificate purpose',
  CERT_UNTRUSTED: 'certificate not trusted',
  CERT_REJECTED: 'certificate rejected',
};

/** Verify codes that mean "not from a CA this listener trusts", the usual cause being another mesh's CA. */
const NOT_OUR_CA = new Set(['UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_SIGNATURE_FAILURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN']);

/** A strict listener's refusal of a caller's certificate, reported as a `tlsClientError`. */
export class ClientCertificateRefused extends Error {
  readonly code: string;
  readonly fields: LogFields;

  constructor(code: string, reason: string, socket: TLSSocket, presented?: X509Certificate, hint?: string) {
    super(reason);
    this.name = 'ClientCertificateRefused';
    this.code = code;
    // Read now: once the socket is destroyed its address and certificate are gone.
    this.fields = {
      reason,
      code,
      ...(hint ? { hint } : {}),
      remote: remoteOf(socket),
      ...(presented ? certificateFields(presented) : {}),
    };
  }
}

/**
 * The caller's address. Once a caller has reset the connection (as a client that sent an alert
 * does) the TLS socket cannot read it any more; the TCP socket underneath (Node's `_parent`) still
 * has it if it was read when the connection arrived, which inboundTls sees to.
 */
function remoteOf(socket: TLSSocket | undefined): string | undefined {
  const tcp = (socket as { _parent?: Socket } | undefined)?._parent;
  const host = socket?.remoteAddress ?? tcp?.remoteAddress;
  const port = socket?.remotePort ?? tcp?.remotePort ?? 0;
  return host === undefined ? undefined : formatHostPort({ host, port });
}

function certificateFields(cert: X509Certificate): LogFields {
  // X.509-SVIDs usually have an empty subject; the identity is in the subjectAltName.
  const oneLine = (name: string) => name.split('\n').filter(Boolean).join(', ');
  return {
    ...(cert.subject ? { peerSubject: oneLine(cert.subject) } : {}),
    peerSubjectAltName: cert.subjectAltName ?? null,
    peerIssuer: oneLine(cert.issuer),
    peerNotAfter: new Date(cert.validTo).toISOString(),
  };
}

/**
 * Why a connection must not reach a strict listener: no certificate, one that does not verify
 * against the trust anchors (the OpenSSL verify result), or one without a single SPIFFE ID (a
 * mesh identity is what authorization and the app are told). Undefined when it may.
 */
export function clientCertificateRefusal(socket: TLSSocket): ClientCertificateRefused | undefined {
  const presented = socket.getPeerX509Certificate();
  if (presented === undefined) {
    return new ClientCertificateRefused('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'peer did not return a certificate', socket, undefined, 'this port requires mTLS: the caller must present a certificate from the mesh');
  }
  if (!socket.authorized) {
    const code = String(socket.authorizationError);
    const hint = NOT_OUR_CA.has(code) ? "the certificate does not chain to this listener's trust anchors (another CA, or sent without its issuer)" : undefined;
    return new ClientCertificateRefused(code, VERIFY_ERROR_TEXT[code] ?? code, socket, presented, hint);
  }
  if (spiffeIdOfSubjectAltName(presented.subjectAltName) === undefined) {
    return new ClientCertificateRefused('NO_SPIFFE_ID', 'the certificate has no single spiffe:// URI SAN, so it names no mesh identity', socket, presented);
  }
  return undefined;
}

/**
 * How a `tlsClientError` is logged: a refusal with its reason, or (refused: false) a caller that
 * hung up during the handshake, which sent nothing wrong and is not worth a warning.
 */
export function describeTlsClientError(err: Error & { code?: string; reason?: string }, socket: TLSSocket | undefined): { refused: boolean; fields: LogFields } {
  if (err instanceof ClientCertificateRefused) return { refused: true, fields: err.fields };
  const remote = remoteOf(socket);
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return { refused: false, fields: { code: err.code, remote } };
  // OpenSSL's errors carry the bare reason ("tlsv1 alert unknown ca", "unsupported protocol").
  const reason = err.reason ?? err.message;
  // An alert is the caller's verdict on this side (its certificate, its CA, its TLS settings).
  const hint = /^(sslv3|tlsv1|tlsv13) alert /.test(reason) ? "the caller ended the handshake with this alert: it refused this listener's certificate or settings" : undefined;
  return { refused: true, fields: { reason, code: err.code, ...(hint ? { hint } : {}), remote } };
}

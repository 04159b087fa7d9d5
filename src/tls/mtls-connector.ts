/**
 * The client side of mTLS: an undici connector that opens TLS 1.3 to an endpoint, presents this
 * process's current certificate, and accepts the endpoint only if its certificate chains to the
 * trust anchors and names one of the expected SPIFFE IDs. Host names play no part (endpoints are
 * usually IP addresses); the SPIFFE ID is the identity. There is no plaintext fallback: a failed
 * handshake fails the connection. When the identity rotates, new connections use the new
 * certificate; TLS session tickets are cached so reconnecting skips most of the handshake (a
 * rotation starts a fresh cache). A local certificate that has expired (or is not valid yet) is never
 * offered: the peer would refuse it with nothing but a closed connection, while failing here says
 * what to renew, and no connection is opened.
 */
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { buildConnector } from 'undici';
import { MeshError } from '../core/errors.js';
import type { IdentitySource, LoadedIdentity } from './identity-source.js';
import { spiffeIdOfSubjectAltName } from './spiffe-id.js';

export interface MtlsConnectorOptions {
  /** The SPIFFE IDs an endpoint may prove. */
  expected: string[];
  timeoutMs: number;
  /** Offer HTTP/2 by ALPN (for gRPC). */
  allowH2: boolean;
}

/**
 * The TLS options of a connection to an endpoint that must prove one of `expected`: this process's
 * certificate, the trust anchors, TLS 1.3, and the SPIFFE ID check in place of a host name check.
 */
export function mtlsOptions(identity: LoadedIdentity, expected: readonly string[]): ConnectionOptions {
  return {
    ca: identity.trustAnchorsPem,
    cert: identity.certPem,
    key: identity.keyPem,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const peer = spiffeIdOfSubjectAltName(cert.subjectaltname);
      if (peer !== undefined && expected.includes(peer)) return undefined;
      const error = new MeshError('TLS_FAILED', `the endpoint's certificate names ${peer ?? 'no SPIFFE ID'}, not ${expected.length === 1 ? expected[0] : `one of ${expected.join(', ')}`}`);
      (error as { reason?: string }).reason = 'identity mismatch';
      return error;
    },
  };
}

export function mtlsConnector(source: IdentitySource, options: MtlsConnectorOptions): buildConnector.connector {
  const build = (identity: LoadedIdentity) =>
    buildConnector({ ...mtlsOptions(identity, options.expected), allowH2: options.allowH2, timeout: options.timeoutMs, maxCachedSessions: 100 } as buildConnector.BuildOptions);
  // Rebuilt when a connection is opened after a rotation, rather than on a change subscription: a
  // client replaced by a config reload then leaves nothing registered on the identity behind it.
  let identity = source.current();
  let connector = build(identity);
  return (connectOptions, callback) => {
    const invalid = source.validityError();
    if (invalid) {
      callback(invalid, null);
      return;
    }
    const current = source.current();
    if (current !== identity) {
      identity = current;
      connector = build(current);
    }
    connector(connectOptions, callback);
  };
}

/** The TLS options for a new connection now: refused, like the connector, while the local certificate is not valid. */
export function currentMtlsOptions(source: IdentitySource, expected: readonly string[]): ConnectionOptions {
  const invalid = source.validityError();
  if (invalid) throw invalid;
  return mtlsOptions(source.current(), expected);
}

/**
 * The server side of mTLS for the inbound listener. `strict` accepts only TLS 1.3 connections that
 * present a certificate chaining to the trust anchors (plaintext is answered 403 and closed);
 * `permissive` also accepts plaintext and certificate-less TLS, for migrating a service into the mesh
 * — such callers are simply unauthenticated. The caller's SPIFFE ID is what authorization, metrics
 * and the app (in `x-meshwork-client-id`, see forward.ts) see.
 */
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { IdentitySource, LoadedIdentity } from '../tls/identity-source.js';
import { spiffeIdOfSubjectAltName } from '../tls/spiffe-id.js';
import { isHttp2, type ProxyRequest } from './forward.js';

export type InboundTlsMode = 'strict' | 'permissive';

export interface InboundTls {
  mode: InboundTlsMode;
  /** Takes over a connection that starts with a TLS handshake. */
  server: Http2SecureServer;
  close(): void;
}

/** The TLS side of a listener; the listener attaches its request handling (see proxy-listener.ts). */
export function inboundTls(mode: InboundTlsMode, identity: IdentitySource): InboundTls {
  const contextOf = (id: LoadedIdentity) => ({ cert: id.certPem, key: id.keyPem, ca: id.trustAnchorsPem });
  const server = createSecureServer(
    {
      ...contextOf(identity.current()),
      allowHTTP1: true,
      minVersion: 'TLSv1.3',
      requestCert: true,
      // Permissive lets a certificate-less (or unverifiable) caller finish the handshake; it is then
      // treated as unauthenticated (see peerIdentity), never as the identity it claims.
      rejectUnauthorized: mode === 'strict',
    },
  );
  const unsubscribe = identity.onChange((id) => server.setSecureContext(contextOf(id)));
  return { mode, server, close: unsubscribe };
}

export interface PeerIdentity {
  tls: boolean;
  /** The verified SPIFFE ID of the caller; undefined for plaintext or an unverified certificate. */
  clientId: string | undefined;
}

const PLAINTEXT: PeerIdentity = { tls: false, clientId: undefined };
const identities = new WeakMap<object, PeerIdentity>();

/** Who is calling, from the connection the request came on (computed once per connection). */
export function peerIdentity(req: ProxyRequest): PeerIdentity {
  const socket = (isHttp2(req) ? req.stream.session?.socket : req.socket) as TLSSocket | undefined;
  if (!socket || (socket as { encrypted?: boolean }).encrypted !== true) return PLAINTEXT;
  let peer = identities.get(socket);
  if (peer === undefined) {
    const clientId = socket.authorized ? spiffeIdOfSubjectAltName(socket.getPeerCertificate().subjectaltname) : undefined;
    peer = { tls: true, clientId };
    identities.set(socket, peer);
  }
  return peer;
}

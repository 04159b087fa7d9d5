/**
 * The server side of mTLS for the inbound listener. `strict` accepts only TLS 1.3 connections that
 * present a certificate chaining to the trust anchors and naming a SPIFFE ID (plaintext is answered
 * 403 and closed; a refused certificate is logged with the reason, see tls-refusal.ts); `permissive`
 * also accepts plaintext and certificate-less TLS, for migrating a service into the mesh — such
 * callers are simply unauthenticated. The caller's SPIFFE ID is what authorization, metrics and the
 * app (in `x-meshwork-client-id`, see forward.ts) see.
 */
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { clientCertificateRefusal } from './tls-refusal.js';
import type { IdentitySource, LoadedIdentity } from '../tls/identity-source.js';
import { spiffeIdOfSubjectAltName } from '../tls/spiffe-id.js';
import { isHttp2, type ProxyRequest } from './forward.js';

/** `off` takes no TLS at all (a handshake is not answered); the mode may change while running. */
export type InboundTlsMode = 'strict' | 'permissive' | 'off';

export interface InboundTls {
  /** The mode now: a config reload changes it, and it applies to the next connection. */
  mode(): InboundTlsMode;
  /** Takes over a connection that starts with a TLS handshake. */
  server: Http2SecureServer;
  close(): void;
}

/** The TLS side of a listener; the listener attaches its request handling (see proxy-listener.ts). */
export function inboundTls(mode: () => InboundTlsMode, identity: IdentitySource): InboundTls {
  const contextOf = (id: LoadedIdentity) => ({ cert: id.certPem, key: id.keyPem, ca: id.trustAnchorsPem });
  const server = createSecureServer(
    {
      ...contextOf(identity.current()),
      allowHTTP1: true,
      minVersion: 'TLSv1.3',
      requestCert: true,
      // Every caller finishes the handshake, so that the verification result can be read. Strict
      // mode then refuses the unverified (admitOnlyVerified); permissive treats them as
      // unauthenticated (see peerIdentity), never as the identity they claim.
      rejectUnauthorized: false,
    },
  );
  // Read while the connection is surely open: a refusal is logged with it even after a reset.
  server.prependListener('connection', (tcp: Socket) => void tcp.remoteAddress);
  admitOnlyVerified(server, () => mode() === 'strict');
  const unsubscribe = identity.onChange((id) => server.setSecureContext(contextOf(id)));
  return { mode, server, close: unsubscribe };
}

/**
 * In strict mode (asked per connection, so a reload applies to the next one), puts a check in front
 * of the listeners that start HTTP/1.1 or HTTP/2 on a new TLS connection (the
 * HTTP/2 server's own), so a refused caller's socket is never handed to an HTTP parser and no byte
 * it sent is read. The refusal is emitted as a `tlsClientError`, like a failed handshake, and the
 * connection destroyed; anything unexpected in the check refuses too.
 */
function admitOnlyVerified(server: Http2SecureServer, strict: () => boolean): void {
  const serve = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    let refusal: Error | undefined;
    try {
      refusal = strict() ? clientCertificateRefusal(socket) : undefined;
    } catch (err) {
      refusal = err as Error;
    }
    if (refusal === undefined) {
      for (const listener of serve) listener.call(server, socket);
      return;
    }
    // The HTTP/2 server's tlsClientError handler destroys the socket with the error, which the
    // socket then emits; it is reported once, through tlsClientError.
    socket.on('error', () => {});
    server.emit('tlsClientError', refusal, socket);
    socket.destroy();
  });
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

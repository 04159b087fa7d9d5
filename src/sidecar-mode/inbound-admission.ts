/**
 * The inbound side's door: who is calling (the verified SPIFFE ID of the connection) and whether
 * the authorization policy lets them call this route, for requests and upgrades (WebSocket) alike.
 * The policy is read per request, so a reload applies to the next request on open connections too.
 * Admitted requests go to the app with the caller's identity set by the sidecar.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.js';
import { formatHostPort, type HostPort } from '../config/listen-address.js';
import type { MeshRequest } from '../http/http-types.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { forward, respondWithFailure, type ForwardTarget, type ProxyRequest, type ProxyResponse } from './forward.js';
import { peerIdentity } from './inbound-tls.js';
import { authorityOf, hostOnly } from './outbound-routing.js';
import { endWithStatus } from './raw-response.js';
import type { SidecarPolicy } from './sidecar-policy.js';
import { forwardUpgrade } from './upgrade-tunnel.js';

export interface InboundAdmissionOptions {
  app: ForwardTarget;
  appAddress: HostPort;
  policy: SidecarPolicy;
  metrics: MeshMetrics;
  logger: Logger;
}

export function inboundAdmission(options: InboundAdmissionOptions): {
  handler(req: ProxyRequest, res: ProxyResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
} {
  const { app, appAddress, policy, metrics, logger } = options;
  const admit = (req: ProxyRequest | IncomingMessage) => {
    const authority = authorityOf(req) ?? formatHostPort(appAddress);
    const label = hostOnly(authority);
    const peer = peerIdentity(req);
    const path = req.url ?? '/';
    let denied: string | undefined;
    const authorize = policy.authorize;
    if (authorize && !authorize(peer.clientId, req.method ?? 'GET', path, req.headers as MeshRequest['headers']).allowed) {
      denied = `${peer.clientId ?? 'an unauthenticated caller'} may not call ${req.method} ${path}`;
      metrics.stackEvent(label, 'inbound_denied_total');
      logger.info('inbound request denied by the authorization policy', { authority, method: req.method, path, clientId: peer.clientId ?? null });
    }
    return { authority, label, peer, path, denied };
  };
  return {
    handler(req, res) {
      const { authority, label, peer, path, denied } = admit(req);
      if (denied) return respondWithFailure(res, 403, 'FORBIDDEN', denied);
      forward(req, res, app, { direction: 'inbound', authority, label, path, logger, accessLog: policy.settings.accessLog, maxHops: policy.settings.maxHops, peer });
    },
    onUpgrade(req, socket, head) {
      const { authority, label, peer, path, denied } = admit(req);
      if (denied) return endWithStatus(socket, 403, denied, 'FORBIDDEN');
      forwardUpgrade(req, socket, head, app, { direction: 'inbound', authority, label, path, logger, accessLog: policy.settings.accessLog, maxHops: policy.settings.maxHops, peer });
    },
  };
}

/**
 * Gateway mode: mesh-sidecar as the edge of the mesh. Requests from outside arrive over HTTPS (the
 * certificate chosen by SNI, server-certificates.ts), or over plain HTTP, which is redirected to
 * HTTPS with 308 (method and body kept) unless the gateway serves plain HTTP; each is routed by host
 * and path (gateway-routing.ts) to a mesh service and sent through that service's client: the same
 * stack, balancer, retry budget and mTLS as the outbound port, counted with direction="gateway".
 *
 * The edge trusts nothing the caller says about itself: Host, X-Forwarded-* and
 * x-meshwork-client-id are replaced (forward.ts). A request for a host that another certificate
 * serves than the one its connection was set up with (SNI for one host, Host for another; HTTP/2
 * connection reuse across certificates) gets 421 Misdirected Request, as Envoy and Go answer, so a
 * client cannot reach a host under a certificate that does not name it.
 */
import { createSecureServer } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Mesh } from '../client/create-mesh.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { HostPort } from '../config/listen-address.js';
import type { GatewaySection } from '../config/gateway-schema.js';
import type { ListenerLimits } from '../config/sidecar-schema.js';
import type { ReportRefusal } from './listener-refusals.js';
import { forward, isHttp2, respondWithFailure, type ProxyRequest, type ProxyResponse } from './forward.js';
import { proxyFailure } from './proxy-errors.js';
import { hostMatches } from '../config/host-pattern.js';
import { GatewayRoutes, normalizeHost } from './gateway-routing.js';
import { requestTarget } from './outbound-routing.js';
import { listenProxy, type ProxyListener, type RequestHandler } from './proxy-listener.js';
import { ServerCertificates } from './server-certificates.js';

export interface GatewayOptions {
  mesh: Mesh;
  logger: Logger;
  clock: Clock;
  /** The config file's directory, for relative certificate paths. */
  baseDir: string;
  maxHeaderBytes: number;
  /** The same timeouts and limits as the sidecar's other listeners, refusals reported per listener. */
  limits: ListenerLimits;
  refusals: (listener: string) => ReportRefusal;
  maxHops: () => number;
  accessLog: () => boolean;
}

export interface Gateway {
  readonly https: HostPort | null;
  readonly http: HostPort | null;
  /** Routes from a reloaded config; listeners and certificates stay as they started. */
  setRoutes(section: GatewaySection): void;
  drain(graceMs: number): Promise<boolean>;
}

interface GatewayTarget {
  host: string;
  /** Path and query to send on. */
  path: string;
}

export async function startGateway(section: GatewaySection, options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  let routes = new GatewayRoutes(section.routes);
  const certificates = section.certificates.length > 0 ? new ServerCertificates(section.certificates, { baseDir: options.baseDir, clock: options.clock, logger }) : undefined;
  const listeners: ProxyListener[] = [];
  let https: ProxyListener | undefined;
  let http: ProxyListener | undefined;
  try {
    if (section.https && certificates) {
      const fallback = certificates.fallback;
      const server = createSecureServer({ allowHTTP1: true, cert: fallback.certPem, key: fallback.keyPem, SNICallback: certificates.sniCallback, minVersion: 'TLSv1.2' });
      certificates.onChange(() => server.setSecureContext({ cert: certificates.fallback.certPem, key: certificates.fallback.keyPem }));
      https = await listenProxy(section.https, {
        name: 'gateway-https',
        maxHeaderBytes: options.maxHeaderBytes,
        limits: options.limits,
        refused: options.refusals('gateway-https'),
        logger,
        // Only TLS is spoken here: a plaintext request gets 403 TLS_REQUIRED.
        tls: { mode: () => 'strict', server },
        handler: (req, res) => routeRequest(req, res, 'https'),
      });
      listeners.push(https);
    }
    if (section.http) {
      const httpsPort = https?.address.port ?? section.https?.port ?? 443;
      const handler: RequestHandler = section.httpsRedirect ? (req, res) => redirectToHttps(req, res, httpsPort) : (req, res) => routeRequest(req, res, 'http');
      http = await listenProxy(section.http, { name: 'gateway-http', maxHeaderBytes: options.maxHeaderBytes, limits: options.limits, refused: options.refusals('gateway-http'), logger, handler });
      listeners.push(http);
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.drain(0)));
    await certificates?.close();
    throw err;
  }

  function routeRequest(req: ProxyRequest, res: ProxyResponse, scheme: 'http' | 'https'): void {
    const target = gatewayTarget(req, scheme);
    if ('problem' in target) return respondWithFailure(res, 400, 'INVALID_REQUEST', target.problem);
    const match = routes.find(target.host, target.path);
    if ('unknownHost' in match) return respondWithFailure(res, 404, 'UNKNOWN_HOST', `this gateway serves no host "${target.host}"`);
    if ('noRoute' in match) return respondWithFailure(res, 404, 'NO_ROUTE', `no gateway route of host "${target.host}" matches the path ${JSON.stringify(target.path)}`);
    if (scheme === 'https' && certificates) {
      const servername = serverNameOf(req);
      const served = certificates.forServerName(servername);
      if (!served.hosts.some((pattern) => hostMatches(pattern, target.host))) {
        return respondWithFailure(res, 421, 'MISDIRECTED_REQUEST', `"${target.host}" is not served on this connection (TLS server name ${servername ? JSON.stringify(servername) : 'not sent'}); connect with the server name "${target.host}"`);
      }
    }
    const { route } = match;
    let client;
    try {
      client = options.mesh.client(route.service);
    } catch (err) {
      // A reload that dropped spec.gateway keeps the last routes, whose service may be gone.
      const failure = proxyFailure(err);
      return respondWithFailure(res, failure.status, failure.code, failure.message);
    }
    forward(req, res, client, {
      direction: 'gateway',
      authority: target.host,
      label: route.service,
      path: target.path,
      logger,
      accessLog: options.accessLog(),
      maxHops: options.maxHops(),
      edgeProto: scheme,
    });
  }

  function redirectToHttps(req: ProxyRequest, res: ProxyResponse, httpsPort: number): void {
    const target = gatewayTarget(req, 'http');
    if ('problem' in target) return respondWithFailure(res, 400, 'INVALID_REQUEST', target.problem);
    // Only hosts the gateway serves are sent anywhere: a Host header must not pick the Location.
    if (!routes.serves(target.host)) return respondWithFailure(res, 404, 'UNKNOWN_HOST', `this gateway serves no host "${target.host}"`);
    const location = `https://${target.host}${httpsPort === 443 ? '' : `:${httpsPort}`}${target.path}`;
    // 308 rather than 301: the method and body are kept (a POST stays a POST).
    res.writeHead(308, { location, 'content-length': '0' });
    res.end();
  }

  return {
    https: https?.address ?? null,
    http: http?.address ?? null,
    setRoutes(next) {
      routes = new GatewayRoutes(next.routes);
    },
    async drain(graceMs) {
      const results = await Promise.all(listeners.map((l) => l.drain(graceMs)));
      await certificates?.close();
      return results.every(Boolean);
    },
  };
}

/**
 * The host and path a request at the gateway is for. An absolute-form target (`GET
 * https://shop.example.com/ HTTP/1.1`) names the host itself, and the Host header is then ignored
 * (RFC 9112 §3.2.2); otherwise the Host header, or HTTP/2's :authority.
 */
function gatewayTarget(req: ProxyRequest, scheme: 'http' | 'https'): GatewayTarget | { problem: string } {
  const target = requestTarget(req, scheme);
  if ('problem' in target) return target;
  const host = normalizeHost(target.authority);
  if (typeof host !== 'string') return host;
  return { host, path: target.path };
}

/** The name the client sent in SNI on this request's connection. */
function serverNameOf(req: ProxyRequest): string | undefined {
  const socket = (isHttp2(req) ? req.stream.session?.socket : req.socket) as TLSSocket | undefined;
  const name = (socket as { servername?: string | false } | undefined)?.servername;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

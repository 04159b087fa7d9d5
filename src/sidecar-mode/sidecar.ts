/**
 * mesh-sidecar: the in-process mesh (createMesh, the same clients and filter stack) behind three
 * listeners. Outbound takes the app's plain HTTP and sends it to the service its Host names;
 * inbound takes mesh traffic for the local app and hands it over on loopback; admin serves
 * metrics, probes and the effective config. Nothing here decides how a request is balanced, retried
 * or timed out: that is the stack's job, exactly as in a Node process using the library.
 */
import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { Duplex } from 'node:stream';
import { collectDefaultMetrics } from 'prom-client';
import { Agent, type Dispatcher } from 'undici';
import { createMesh, type Mesh } from '../client/create-mesh.js';
import type { MeshRequest } from '../http/http-types.js';
import { Http1Exchange } from '../client/http1-exchange.js';
import type { MeshResponse } from '../http/mesh-response.js';
import { newCallContext } from '../core/service.js';
import { meshClient, type MeshClient } from '../client/mesh-client.js';
import { isMeshError, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formatHostPort, isLoopbackHost, parseHostPort, type HostPort } from '../config/listen-address.js';
import { loadMeshConfig, parseMeshConfig } from '../config/mesh-config.js';
import { isConfigMapRef, openConfigMapSource } from '../config/config-map-source.js';
import { sidecarSettings, type SidecarSection, type SidecarSettings } from '../config/sidecar-schema.js';
import { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { AdminView } from '../admin/admin-view.js';
import { adminSettings, followAdminSettings } from '../config/admin-schema.js';
import { systemClock } from '../core/clock.js';
import { forward, isHttp2, respondWithFailure, type ForwardTarget, type ProxyRequest, type ProxyResponse } from './forward.js';
import { listenProxy, type ProxyListener } from './proxy-listener.js';
import { compileAuthorization } from './inbound-authorization.js';
import { inboundTls, peerIdentity, type InboundTls, type InboundTlsMode } from './inbound-tls.js';
import { installSidecarTracing } from './sidecar-tracing.js';
import type { TracingSection } from '../config/tracing-schema.js';
import { endWithStatus } from './raw-response.js';
import { forwardUpgrade } from './upgrade-tunnel.js';
import { rawHeader } from './proxy-headers.js';

export interface SidecarOptions {
  /** The mesh YAML file (services, profiles and the optional spec.sidecar section), or `k8s:configmap/<ns>/<name>#<key>`. */
  config: string;
  /** Settings that override spec.sidecar (the command-line flags). */
  overrides?: SidecarSection;
  logger: Logger;
}

export interface Sidecar {
  readonly settings: SidecarSettings;
  readonly mesh: Mesh;
  readonly outbound: HostPort | null;
  readonly inbound: HostPort | null;
  readonly admin: HostPort | null;
  /** Stops accepting, lets requests in flight finish within the grace period, then closes. */
  drain(): Promise<{ clean: boolean }>;
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const { logger } = options;
  // `k8s:configmap/<ns>/<name>#<key>`: the whole config from the API server, watched like a file.
  const source = isConfigMapRef(options.config) ? await openConfigMapSource(options.config, { logger }) : undefined;
  let fileConfig;
  try {
    fileConfig = source ? parseMeshConfig(source.text, source.name) : await loadMeshConfig(options.config);
  } catch (err) {
    await source?.close();
    throw err;
  }
  const started = sidecarSettings(fileConfig.sidecar, options.overrides);
  // What a reload may change while running (policy, logging, the grace period); addresses and
  // limits the listeners were built with need a restart, and a reload that changes them says so.
  const live = {
    settings: started,
    authorize: compileAuthorization(started.authorization),
    tlsMode: 'off' as InboundTlsMode,
    pendingRestart: [] as string[],
  };
  const settings = started;
  if (settings.admin && !isLoopbackHost(settings.admin.host)) {
    logger.warn('the admin server listens beyond loopback; /config and /metrics are visible to the network', { admin: formatHostPort(settings.admin) });
  }

  const metrics = new MeshMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  // Read once: the exporter's collector and batching apply from the start (a change needs a restart).
  const tracerProvider = installSidecarTracing(logger, fileConfig.tracing, metrics.registry);
  const mesh = createMesh({
    ...(source ? { configSource: source } : { config: options.config }),
    metrics,
    logger,
    tracerProvider,
    prepareReload: (config) => {
      const next = sidecarSettings(config.sidecar, options.overrides);
      const tlsMode = inboundTlsMode(next, mesh, options.config);
      const authorize = compileAuthorization(next.authorization);
      const pendingRestart = RESTART_ONLY.filter((field) => !isDeepStrictEqual(next[field], started[field]));
      return () => {
        live.settings = { ...next, ...Object.fromEntries(RESTART_ONLY.map((field) => [field, started[field]])) };
        live.authorize = authorize;
        live.tlsMode = tlsMode;
        live.pendingRestart = pendingRestart;
        setLogLevel(logger, next.logLevel);
        if (pendingRestart.length > 0) logger.warn('spec.sidecar changes that apply only after a restart', { fields: pendingRestart });
        logger.info('sidecar policy reloaded', { authorizationRules: next.authorization.length, inboundTls: tlsMode });
      };
    },
  });
  if (settings.inbound && settings.app) live.tlsMode = inboundTlsMode(settings, mesh, options.config);
  const app = settings.app ? appClient(settings.app, metrics, logger) : undefined;
  const passthrough = new Agent({ keepAliveTimeout: 4_000 });

  let outbound: ProxyListener | undefined;
  let inbound: ProxyListener | undefined;
  let admin: AdminServer | undefined;
  let inboundTlsServer: InboundTls | undefined;
  let draining = false;
  try {
    if (settings.outbound) {
      const own = settings.outbound;
      outbound = await listenProxy(own, {
        name: 'outbound',
        maxHeaderBytes: settings.maxHeaderBytes,
        logger,
        handler: (req, res) => routeOutbound(req, res, mesh, passthrough, outbound?.address ?? own, live.settings, logger),
        onUpgrade: (req, socket, head) => upgradeOutbound(req, socket, head, mesh, live.settings, logger),
      });
    }
    if (settings.inbound) {
      if (!app) {
        logger.warn('no app address (--app or spec.sidecar.app): the inbound listener is off');
      } else {
        const appAddress = settings.app!;
        // Requests and upgrades (WebSocket) alike: who is calling, and whether the policy lets them.
        // The policy is read per request, so a reload applies to the next request, on open
        // connections too.
        const admit = (req: ProxyRequest | IncomingMessage) => {
          const authority = authorityOf(req) ?? formatHostPort(appAddress);
          const label = hostOnly(authority);
          const peer = peerIdentity(req);
          const path = req.url ?? '/';
          let denied: string | undefined;
          const authorize = live.authorize;
          if (authorize && !authorize(peer.clientId, req.method ?? 'GET', path, req.headers as MeshRequest['headers']).allowed) {
            denied = `${peer.clientId ?? 'an unauthenticated caller'} may not call ${req.method} ${path}`;
            metrics.stackEvent(label, 'inbound_denied_total');
            logger.info('inbound request denied by the authorization policy', { authority, method: req.method, path, clientId: peer.clientId ?? null });
          }
          return { authority, label, peer, path, denied };
        };
        const handler = (req: ProxyRequest, res: ProxyResponse) => {
          const { authority, label, peer, path, denied } = admit(req);
          if (denied) return respondWithFailure(res, 403, 'FORBIDDEN', denied);
          forward(req, res, app, { direction: 'inbound', authority, label, path, logger, accessLog: live.settings.accessLog, peer });
        };
        const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          const { authority, label, peer, path, denied } = admit(req);
          if (denied) return endWithStatus(socket, 403, denied, 'FORBIDDEN');
          forwardUpgrade(req, socket, head, app, { direction: 'inbound', authority, label, path, logger, accessLog: live.settings.accessLog, peer });
        };
        // With an identity the TLS side is always there, so a reload can turn mTLS on, off or strict.
        inboundTlsServer = mesh.identity ? inboundTls(() => live.tlsMode, mesh.identity) : undefined;
        inbound = await listenProxy(settings.inbound, {
          name: 'inbound',
          maxHeaderBytes: settings.maxHeaderBytes,
          logger,
          handler,
          onUpgrade,
          ...(inboundTlsServer ? { tls: inboundTlsServer } : {}),
        });
      }
    }
    if (settings.admin) {
      // Stats start with the admin port: `stat` and the dashboard show traffic from the first request.
      const view = new AdminView({
        source: mesh,
        metrics,
        clock: systemClock,
        settings: followAdminSettings(() => mesh.adminConfig),
        self: () => mesh.identity?.current().spiffeId ?? (settings.app ? `mesh-sidecar (app ${formatHostPort(settings.app)})` : 'mesh-sidecar'),
      });
      admin = await startAdminServer(
        settings.admin,
        {
          registry: metrics.registry,
          view,
          ready: () => !draining,
          config: () => effectiveConfig(options.config, live, mesh, fileConfig.tracing, { outbound: outbound?.address ?? null, inbound: inbound?.address ?? null, admin: admin?.address ?? null }),
        },
        logger,
      );
    }
  } catch (err) {
    await Promise.all([outbound?.drain(0), inbound?.drain(0), admin?.close(), mesh.close(), app?.close(), passthrough.close()]);
    if (isMeshError(err)) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new MeshError('INVALID_CONFIG', `cannot listen: ${e.code === 'EADDRINUSE' ? `address ${(e as { address?: string }).address}:${(e as { port?: number }).port} is already in use` : e.message}`);
  }

  return {
    get settings() {
      return live.settings;
    },
    mesh,
    outbound: outbound?.address ?? null,
    inbound: inbound?.address ?? null,
    admin: admin?.address ?? null,
    async drain() {
      draining = true;
      const graceMs = live.settings.drainGraceMs;
      const results = await Promise.all([outbound?.drain(graceMs) ?? true, inbound?.drain(graceMs) ?? true]);
      inboundTlsServer?.close();
      // The listeners' connections are closed by now, which aborts whatever the clients still had in
      // flight; a client that still does not finish (a stuck upstream) must not hold the exit.
      await untilOrAfter(Promise.all([mesh.close(), app?.close(), passthrough.close()]), CLOSE_CLIENTS_MS);
      await admin?.close();
      // Last: the spans of the requests that just finished are exported (within the export timeout).
      await tracerProvider.shutdown();
      return { clean: results.every(Boolean) };
    },
  };
}

/** The inbound mTLS mode the settings ask for: strict by default with an identity; refused without one. */
function inboundTlsMode(settings: SidecarSettings, mesh: Mesh, configFile: string): InboundTlsMode {
  const mode = settings.inboundTls ?? (mesh.identity ? 'strict' : 'off');
  if (mode !== 'off' && !mesh.identity) {
    throw new MeshError('INVALID_CONFIG', `${configFile}: spec.sidecar.inboundTls is ${mode}, but there is no spec.identity (certFile, keyFile, trustAnchorsFile) to serve it with`);
  }
  return mode;
}

/** spec.sidecar fields the listeners are built with: a reload that changes them waits for a restart. */
const RESTART_ONLY = ['outbound', 'inbound', 'admin', 'app', 'maxHeaderBytes'] as const;

function setLogLevel(logger: Logger, level: SidecarSettings['logLevel']): void {
  if ('level' in logger) (logger as { level: string }).level = level;
}

/** How long, after the grace period, the clients get to close their upstream connections. */
const CLOSE_CLIENTS_MS = 2_000;

function untilOrAfter(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void work.catch(() => undefined).finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The local app as a one-endpoint client: inbound metrics and deadlines, but no retries or ejection. */
function appClient(address: HostPort, metrics: MeshMetrics, logger: Logger): MeshClient {
  return meshClient('app', {
    endpoints: [formatHostPort(address)],
    retries: false,
    circuitBreaker: false,
    outlierDetection: false,
    metrics,
    direction: 'inbound',
    logger,
  });
}

interface OutboundTarget {
  authority: string;
  path: string;
}

/** Where an outbound request is going: a proxy request's absolute URI, else Host / :authority. */
function outboundTarget(req: ProxyRequest): OutboundTarget | { problem: string } {
  const url = req.url ?? '';
  if (!isHttp2(req) && /^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { problem: `the request target ${JSON.stringify(url)} is not a valid URL` };
    }
    if (parsed.protocol !== 'http:') return { problem: `only http:// targets can be proxied, got ${parsed.protocol}//` };
    return { authority: parsed.host, path: `${parsed.pathname}${parsed.search}` };
  }
  const authority = authorityOf(req);
  if (!authority) return { problem: 'the request has no Host header (or :authority) naming the service to call' };
  if (!url.startsWith('/')) return { problem: `the request target ${JSON.stringify(url)} is not a path` };
  return { authority, path: url };
}

function authorityOf(req: ProxyRequest | IncomingMessage): string | undefined {
  // HTTP/1.1 from the raw list: Node builds its header object only if something asks for it.
  const value = req.httpVersionMajor === 2 ? (req.headers[':authority'] as string | undefined) ?? req.headers.host : rawHeader(req.rawHeaders, 'host');
  if (!value) return undefined;
  // Host names are almost always sent in lower case already; lower-casing copies the string.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) return value.toLowerCase();
  }
  return value;
}

function hostOnly(authority: string): string {
  return authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.replace(/:\d+$/, '');
}

function routeOutbound(req: ProxyRequest, res: ProxyResponse, mesh: Mesh, passthrough: Dispatcher, own: HostPort, settings: SidecarSettings, logger: Logger): void {
  const target = outboundTarget(req);
  if ('problem' in target) {
    respondWithFailure(res, 400, 'INVALID_REQUEST', target.problem);
    return;
  }
  const forwardOptions = { direction: 'outbound' as const, authority: target.authority, path: target.path, logger, accessLog: settings.accessLog };
  const service = mesh.serviceFor(target.authority);
  if (service !== undefined) {
    forward(req, res, mesh.client(service), { ...forwardOptions, label: service });
    return;
  }
  if (mesh.unknownHosts === 'refuse') {
    respondWithFailure(res, 502, 'UNKNOWN_SERVICE', `no mesh service is named "${target.authority}" and unknownHosts is refuse`);
    return;
  }
  const parsed = parseHostPort(target.authority.includes(':') ? target.authority : `${target.authority}:80`);
  if (parsed === null || 'problem' in parsed) {
    respondWithFailure(res, 400, 'INVALID_REQUEST', `"${target.authority}" is not a host to pass through to`);
    return;
  }
  // Sending a request for ourselves to ourselves would loop until sockets run out.
  if (parsed.port === own.port && (isLoopbackHost(parsed.host) || parsed.host === own.host)) {
    respondWithFailure(res, 508, 'LOOP_DETECTED', `${target.authority} is this sidecar's own outbound address; name a service instead`);
    return;
  }
  forward(req, res, passthroughTarget(passthrough, `http://${formatHostPort(parsed)}`), forwardOptions);
}

/** A host the mesh does not know, reached through a plain keep-alive agent (no stack, no retries). */
function passthroughTarget(agent: Dispatcher, origin: string): ForwardTarget {
  return {
    request: (req: MeshRequest) =>
      new Promise<MeshResponse>((resolve, reject) => {
        agent.dispatch(
          { origin, method: req.method, path: req.path, headers: req.headers ?? null, body: req.body ?? null },
          new Http1Exchange(resolve, reject, newCallContext(origin, req.signal), origin),
        );
      }),
  };
}

/** An upgrade (WebSocket) goes through the service's client like any request; see upgrade-tunnel.ts. */
function upgradeOutbound(req: IncomingMessage, socket: Duplex, head: Buffer, mesh: Mesh, settings: SidecarSettings, logger: Logger): void {
  const target = outboundTarget(req);
  const refuse = (status: number, code: string, message: string) => endWithStatus(socket, status, message, code);
  if ('problem' in target) return refuse(400, 'INVALID_REQUEST', target.problem);
  const service = mesh.serviceFor(target.authority);
  if (service === undefined) return refuse(502, 'UNKNOWN_SERVICE', `no mesh service is named "${target.authority}"`);
  forwardUpgrade(req, socket, head, mesh.client(service), { direction: 'outbound', authority: target.authority, label: service, path: target.path, logger, accessLog: settings.accessLog });
}

function effectiveConfig(file: string, live: { settings: SidecarSettings; tlsMode: InboundTlsMode; pendingRestart: string[] }, mesh: Mesh, tracing: TracingSection | undefined, bound: Record<'outbound' | 'inbound' | 'admin', HostPort | null>): unknown {
  const settings = live.settings;
  const address = (a: HostPort | null) => (a ? formatHostPort(a) : 'off');
  return {
    configFile: file,
    configGeneration: mesh.configGeneration,
    configError: mesh.configError?.message ?? null,
    sidecar: {
      // The addresses actually bound (port 0 in the config becomes the port chosen).
      outbound: address(bound.outbound),
      inbound: address(bound.inbound),
      admin: address(bound.admin),
      app: address(settings.app),
      drainGraceMs: settings.drainGraceMs,
      logLevel: settings.logLevel,
      accessLog: settings.accessLog,
      maxHeaderBytes: settings.maxHeaderBytes,
      inboundTls: live.tlsMode,
      authorization: settings.authorization,
      // Changed in the file, but the listeners run with what they started with until a restart.
      pendingRestart: live.pendingRestart,
    },
    admin: adminSettings(mesh.adminConfig),
    // As the sidecar started with it: the exporter is set up once.
    tracing: tracing ?? null,
    identity: mesh.identity ? { spiffeId: mesh.identity.current().spiffeId, notAfter: mesh.identity.current().notAfter.toISOString(), files: mesh.identity.files } : null,
    unknownHosts: mesh.unknownHosts,
    services: Object.fromEntries(mesh.services().map((name) => [mesh.client(name).name, mesh.client(name).settings])),
  };
}

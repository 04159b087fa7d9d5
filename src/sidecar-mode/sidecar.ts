/**
 * mesh-sidecar: the in-process mesh (createMesh, the same clients and filter stack) behind three
 * listeners. Outbound takes the app's plain HTTP and sends it to the service its Host names;
 * inbound takes mesh traffic for the local app and hands it over on loopback; admin serves
 * metrics, probes and the effective config. Nothing here decides how a request is balanced, retried
 * or timed out: that is the stack's job, exactly as in a Node process using the library.
 */
import { collectDefaultMetrics } from 'prom-client';
import { Agent } from 'undici';
import { createMesh, type Mesh } from '../client/create-mesh.js';
import { meshClient, type MeshClient } from '../client/mesh-client.js';
import { isMeshError, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formatHostPort, isLoopbackHost, type HostPort } from '../config/listen-address.js';
import { loadMeshConfig, parseMeshConfig } from '../config/mesh-config.js';
import { isConfigMapRef, openConfigMapSource } from '../config/config-map-source.js';
import { sidecarSettings, type SidecarSection, type SidecarSettings } from '../config/sidecar-schema.js';
import { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { AdminView } from '../admin/admin-view.js';
import { followAdminSettings } from '../config/admin-schema.js';
import { systemClock } from '../core/clock.js';
import { effectiveConfig } from './config-view.js';
import { inboundAdmission } from './inbound-admission.js';
import { inboundTls, type InboundTls } from './inbound-tls.js';
import { namesOwnListener, routeOutbound, upgradeOutbound } from './outbound-routing.js';
import { listenerRefusals } from './listener-refusals.js';
import { listenProxy, type ProxyListener } from './proxy-listener.js';
import { SidecarPolicy } from './sidecar-policy.js';
import { installSidecarTracing } from './sidecar-tracing.js';
import { gatewayRestartNeeded, gatewaySettings, type GatewayOverrides } from './gateway-settings.js';
import { startGateway, type Gateway } from './gateway-listener.js';

export interface SidecarOptions {
  /** The mesh YAML file (services, profiles and the optional spec.sidecar section), or `k8s:configmap/<ns>/<name>#<key>`. */
  config: string;
  /** Settings that override spec.sidecar (the command-line flags). */
  overrides?: SidecarSection;
  /** The gateway's listeners from the command line (they override spec.gateway's). */
  gatewayOverrides?: GatewayOverrides;
  logger: Logger;
}

export interface Sidecar {
  readonly settings: SidecarSettings;
  readonly mesh: Mesh;
  readonly outbound: HostPort | null;
  readonly inbound: HostPort | null;
  readonly admin: HostPort | null;
  /** The gateway's listeners, when spec.gateway is set. */
  readonly gateway: { https: HostPort | null; http: HostPort | null } | null;
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
  const live = new SidecarPolicy(started, options.config, options.overrides, logger);
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
      const commit = live.prepare(config, mesh.identity !== undefined);
      return () => {
        commit();
        if (config.gateway) gateway?.setRoutes(config.gateway);
        if (gatewayRestartNeeded(fileConfig.gateway, config.gateway, options.gatewayOverrides)) {
          logger.warn('the gateway\'s listeners or certificate list changed in the config; routes apply now, the rest after a restart');
        }
      };
    },
  });
  const gatewaySection = gatewaySettings(fileConfig.gateway, options.gatewayOverrides);
  if (settings.inbound && settings.app) live.startTls(mesh.identity !== undefined);
  const app = settings.app ? appClient(settings.app, metrics, logger) : undefined;
  const passthrough = new Agent({ keepAliveTimeout: 4_000 });

  let outbound: ProxyListener | undefined;
  let inbound: ProxyListener | undefined;
  let admin: AdminServer | undefined;
  let inboundTlsServer: InboundTls | undefined;
  let gateway: Gateway | undefined;
  let draining = false;
  const ownListeners = () => [outbound?.address, inbound?.address, admin?.address, gateway?.https, gateway?.http].filter((a): a is HostPort => a !== undefined && a !== null);
  try {
    if (gatewaySection) {
      gateway = await startGateway(gatewaySection, {
        mesh,
        logger,
        clock: systemClock,
        baseDir: mesh.baseDir ?? process.cwd(),
        maxHeaderBytes: settings.maxHeaderBytes,
        limits: settings.limits,
        refusals: (listener) => listenerRefusals(listener, logger, metrics.registry),
        maxHops: () => live.settings.maxHops,
        accessLog: () => live.settings.accessLog,
      });
    }
    if (settings.outbound) {
      outbound = await listenProxy(settings.outbound, {
        name: 'outbound',
        maxHeaderBytes: settings.maxHeaderBytes,
        limits: settings.limits,
        refused: listenerRefusals('outbound', logger, metrics.registry),
        logger,
        handler: (req, res) => routeOutbound(req, res, mesh, passthrough, ownListeners, live.settings, logger),
        onUpgrade: (req, socket, head) => upgradeOutbound(req, socket, head, mesh, live.settings, logger),
      });
    }
    if (settings.inbound) {
      if (!app) {
        logger.warn('no app address (--app or spec.sidecar.app): the inbound listener is off');
      } else {
        const { handler, onUpgrade } = inboundAdmission({ app, appAddress: settings.app!, policy: live, metrics, logger });
        // With an identity the TLS side is always there, so a reload can turn mTLS on, off or strict.
        inboundTlsServer = mesh.identity ? inboundTls(() => live.tlsMode, mesh.identity) : undefined;
        inbound = await listenProxy(settings.inbound, {
          name: 'inbound',
          maxHeaderBytes: settings.maxHeaderBytes,
          limits: settings.limits,
          refused: listenerRefusals('inbound', logger, metrics.registry),
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
    // An app address that is one of the sidecar's own listeners would send inbound traffic round in a circle.
    const self = settings.app ? namesOwnListener(settings.app, ownListeners()) : undefined;
    if (self) throw new MeshError('INVALID_CONFIG', `the app address ${formatHostPort(settings.app!)} is this sidecar's own listener ${formatHostPort(self)}; give the address the app listens on`);
  } catch (err) {
    await Promise.all([outbound?.drain(0), inbound?.drain(0), gateway?.drain(0), admin?.close(), mesh.close(), app?.close(), passthrough.close()]);
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
    gateway: gateway ? { https: gateway.https, http: gateway.http } : null,
    async drain() {
      draining = true;
      const graceMs = live.settings.drainGraceMs;
      const results = await Promise.all([outbound?.drain(graceMs) ?? true, inbound?.drain(graceMs) ?? true, gateway?.drain(graceMs) ?? true]);
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

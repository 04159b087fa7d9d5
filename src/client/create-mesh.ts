/**
 * A Mesh is a set of named services, from code options or a YAML config file, plus one Dispatcher
 * that routes by host name to them, so that `setGlobalDispatcher(mesh.dispatcher)` sends every
 * `fetch('http://reviews/...')` in the process through the mesh while other hosts go out untouched
 * (or are refused, with `unknownHosts: 'refuse'`).
 *
 * With a config file the mesh watches it. A valid change swaps in new clients only for the services
 * whose settings changed; the old client finishes its in-flight requests before it closes, and
 * handles the application holds (`mesh.client('reviews')`) follow the swap. An invalid change is
 * logged and reported, and the last good config keeps running.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Registry } from 'prom-client';
import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { MeshMetrics } from '../telemetry/mesh-metrics.js';
import type { IdentitySource } from '../tls/identity-source.js';
import { systemClock, type Clock } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { ClusterProfileFeed } from '../config/cluster-profile-feed.js';
import type { ConfigSource } from '../config/config-source.js';
import { watchConfigFile, type ConfigRejection } from '../config/config-watcher.js';
import { ConfigReloadMetrics } from '../config/config-reload-metrics.js';
import { parseMeshConfig, type MeshConfig } from '../config/mesh-config.js';
import { validateServiceConfig, type ServiceSettings } from '../config/service-settings.js';
import type { DiscoverySpec } from '../discovery/parse-discovery.js';
import { ServiceBreakers } from '../policy/service-breakers.js';
import { ServiceRetryBudgets } from '../policy/service-retry-budgets.js';
import { splitClientOptions, type ClientCodeOptions, type MeshClientOptions } from './client-options.js';
import { checkServiceName, type MeshClient } from './mesh-client.js';
import { loadMeshIdentity } from './mesh-identity.js';
import { MeshServices, type AppliedConfig } from './mesh-services.js';
import { MeshDispatcher } from './mesh-dispatcher.js';
import { startMeshAdmin, type MeshAdmin, type MeshAdminOptions } from '../admin/mesh-admin.js';
import { meshTracerProvider } from './mesh-tracer-provider.js';
import type { AdminSection } from '../config/admin-schema.js';
import { egressEntries, egressSchema, type EgressConfig, type EgressEntry } from '../config/egress-schema.js';
import { schemaProblems } from '../config/schema-problems.js';
import { formatPath } from '../core/field-path.js';
import type { EgressDecision } from './egress-policy.js';

export interface MeshOptions extends ClientCodeOptions {
  /** A YAML file with `kind: Mesh` and `kind: ServiceProfile` documents. Give this, `configSource` or `services`. */
  config?: string;
  /** The same YAML from elsewhere than a file (a Kubernetes ConfigMap), watched alike. */
  configSource?: ConfigSource;
  /** Watch the config file and apply valid changes. Default true when `config` is given. */
  watch?: boolean;
  /** Each service's options, by service name (the host name requests use). */
  services?: Record<string, MeshClientOptions>;
  /** What the dispatcher does with hosts that are not mesh services. Default `passthrough`. */
  unknownHosts?: 'passthrough' | 'refuse';
  /** Where passed-through requests go. Default: undici's global dispatcher when the mesh was created. */
  fallback?: Dispatcher;
  /**
   * The external hosts that may be called (`spec.egress` in YAML): `{ allow: [{ host, ports?, ...service options }] }`.
   * When given, a host that is neither a service nor allowed is refused with EGRESS_DENIED, whatever unknownHosts says.
   */
  egress?: EgressConfig;
  /**
   * For embedders with settings of their own in the file (mesh-sidecar's `spec.sidecar`): called with
   * each reloaded config before it is applied. Throw to refuse the change (the last good config keeps
   * running and the error is reported like any other); return what to do once it is applied.
   */
  prepareReload?: (config: MeshConfig) => () => void;
}

export interface Mesh {
  readonly dispatcher: Dispatcher;
  /** This process's identity (certificate, key, trust anchors) when one is configured, for mTLS. */
  readonly identity: IdentitySource | undefined;
  /** What every service's golden metrics are recorded into; undefined with `metrics: false`. */
  readonly metrics: MeshMetrics | undefined;
  /** The Prometheus registry those metrics are in (`await mesh.registry.metrics()` is the exposition text). */
  readonly registry: Registry;
  /** A handle on a service; it stays valid across config reloads. */
  client(name: string): MeshClient;
  services(): string[];
  /**
   * The service an authority names — exactly (`words`), without its port (`words:80`), or by its
   * first DNS label (`words.default.svc.cluster.local`) — or undefined if none.
   */
  serviceFor(authority: string): string | undefined;
  /** What the dispatcher does with hosts that are not services, as configured now. */
  readonly unknownHosts: 'passthrough' | 'refuse';
  /**
   * With an egress policy, for an authority that names no service: the client of an allowed
   * external host (`host:port`, direction="egress"), or the refusal, counted in
   * meshwork_egress_denied_total. Undefined when the mesh has no egress policy.
   */
  egressFor(authority: string, defaultPort?: number): EgressDecision | undefined;
  /** A service's endpoints or discovery, as configured now (gRPC channels resolve through this). */
  discoveryOf(service: string): DiscoverySpec | undefined;
  /** The config file's directory, against which relative discovery paths resolve. */
  readonly baseDir: string | undefined;
  /** The clock the mesh's policies run on (the `clock` option, else the system's); grpcClient's steps use it too. */
  readonly clock: Clock;
  /** How many configs have been applied (1 after start, +1 per good reload). */
  readonly configGeneration: number;
  /** The last reload's error while the config file is bad, else the problems of ServiceProfiles from the cluster; undefined when all is good. */
  readonly configError: Error | undefined;
  /** The config file's `spec.admin` (tap, stats window), as applied now. */
  readonly adminConfig: AdminSection | undefined;
  /**
   * Serves the admin views of this mesh (dashboard, JSON summary, tap, /metrics) on `listen`,
   * loopback at 9990 by default; closed with the mesh or by its own close().
   */
  admin(options?: MeshAdminOptions): Promise<MeshAdmin>;
  close(): Promise<void>;
}


export function createMesh(options: MeshOptions): Mesh {
  if (options === null || typeof options !== 'object' || [options.config, options.configSource, options.services].filter((o) => o !== undefined).length !== 1) {
    throw new MeshError('INVALID_OPTIONS', "createMesh: give either { config: 'mesh.yaml' } or { services: { <name>: { endpoints | discovery, ... } } }");
  }
  if (options.unknownHosts !== undefined && options.unknownHosts !== 'passthrough' && options.unknownHosts !== 'refuse') {
    throw new MeshError('INVALID_OPTIONS', `createMesh: unknownHosts must be 'passthrough' or 'refuse', got ${JSON.stringify(options.unknownHosts)}`);
  }
  const { code: given } = splitClientOptions(options as MeshClientOptions);
  // One registry for every service, reloads included, so counters continue across a swap.
  const meshMetrics = given.metrics === false ? undefined : (given.metrics ?? new MeshMetrics());
  const code: ClientCodeOptions = { ...given, metrics: meshMetrics ?? false };
  const configPath = options.config === undefined ? undefined : resolve(options.config);
  const source = options.configSource;
  const configDir = configPath ? dirname(configPath) : source?.baseDir;
  const configName = configPath ?? source?.name;
  const firstText = configPath ? readFileSync(configPath, 'utf8') : undefined;
  const firstConfig = configPath ? parseMeshConfig(firstText!, configPath) : source ? parseMeshConfig(source.text, source.name) : undefined;
  // An identity from the config file is the mesh's to load and close; one given in code is the caller's.
  const ownIdentity = !code.identity && firstConfig ? loadMeshIdentity(firstConfig, configDir!, { ...(given.logger ? { logger: given.logger } : {}), ...(given.clock ? { clock: given.clock } : {}), ...(meshMetrics ? { registry: meshMetrics.registry } : {}) }) : undefined;
  if (ownIdentity) code.identity = ownIdentity;
  const logger = code.logger ?? silentLogger;
  // spec.tracing gives the mesh a tracer provider of its own (exporting over OTLP), unless code gave one.
  const ownTracing =
    !code.tracerProvider && firstConfig?.tracing
      ? meshTracerProvider(firstConfig.tracing, { clock: code.clock ?? systemClock, logger, serviceName: 'meshwork', ...(meshMetrics ? { registry: meshMetrics.registry } : {}) })
      : undefined;
  if (ownTracing) code.tracerProvider = ownTracing;
  // Outside the clients, so that a service's HTTP and gRPC retries, reloads included, draw on one budget.
  const retryBudgets = new ServiceRetryBudgets(code.clock ?? systemClock);
  // Likewise one circuit breaker per service, which its HTTP client and its grpcClients count in and obey.
  const breakers = new ServiceBreakers(code.clock ?? systemClock);

  // ServiceProfiles from the cluster (spec.kubernetes), merged after the file's own.
  let fileConfig = firstConfig;
  const clusterProfiles = new ClusterProfileFeed({
    logger,
    ...(code.clock ? { clock: code.clock } : {}),
    ...(code.random ? { random: code.random } : {}),
    ...(configDir ? { baseDir: configDir } : {}),
    onChange: () => applyClusterProfiles(),
  });
  if (firstConfig) clusterProfiles.configure(firstConfig);
  const services = new MeshServices(
    firstConfig ? fromConfig(clusterProfiles.merge(firstConfig), options) : fromCode(options),
    code,
    { retryBudgetFor: (service, policy) => retryBudgets.budgetFor(service, policy), breakerFor: (service, policy) => breakers.breakerFor(service, policy), ...(configDir ? { baseDir: configDir } : {}) },
    logger,
  );

  let configError: Error | undefined;
  const fallback = options.fallback ?? getGlobalDispatcher();
  // The same rule as the sidecar's (`reviews.default.svc.cluster.local` reaches `reviews`); asked
  // per request, so a reload that changes unknownHosts takes effect at once.
  const dispatcher = new MeshDispatcher(
    (hostname) => {
      const name = services.serviceFor(hostname);
      return name === undefined ? undefined : services.handle(name.toLowerCase());
    },
    {
      fallback: () => (services.applied.unknownHosts === 'passthrough' ? fallback : undefined),
      egress: (origin) => {
        // The stack speaks HTTP (or mTLS) to endpoints; TLS to an allowed external host goes out through the fallback.
        const https = origin.protocol === 'https:';
        const decision = services.egressFor(origin.host, https ? 443 : 80, !https);
        if (decision === undefined) return undefined;
        if ('denied' in decision) return decision.denied;
        return 'client' in decision ? decision.client : fallback;
      },
    },
  );

  const registry = (meshMetrics ?? new MeshMetrics()).registry;
  const watching = options.watch !== false && (configPath !== undefined || source !== undefined);
  const reloads = watching ? new ConfigReloadMetrics(registry) : undefined;
  const handlers = {
    onChange: (config: MeshConfig) => {
      try {
        const commit = options.prepareReload?.(config);
        clusterProfiles.configure(config);
        fileConfig = config;
        services.apply(fromConfig(clusterProfiles.merge(config), options), configName);
        configError = undefined;
        commit?.();
        reloads?.applied();
      } catch (err) {
        configError = err as Error;
        reloads?.failed('not_applied');
        logger.error('config change could not be applied; keeping the last good config', { file: configName, error: (err as Error).message });
      }
    },
    onError: (err: Error, reason: ConfigRejection = 'invalid') => {
      configError = err;
      reloads?.failed(reason);
      logger.error('config change is invalid; keeping the last good config', { file: configName, reason, error: err.message });
    },
  };
  const watcher = !watching
    ? undefined
    : configPath
      ? // What was just loaded is the baseline, so a change written while the watcher starts is not taken for it.
        watchConfigFile(configPath, { ...handlers, ...(code.clock ? { clock: code.clock } : {}), baseline: firstText! })
      : source?.watch(handlers);

  function applyClusterProfiles(): void {
    if (!fileConfig) return;
    try {
      const next = fromConfig(clusterProfiles.merge(fileConfig), options);
      if (!isDeepStrictEqual(next, services.applied)) services.apply(next, 'ServiceProfiles from the cluster');
    } catch (err) {
      logger.error('ServiceProfiles from the cluster could not be applied; keeping the last good config', { error: (err as Error).message });
    }
  }

  const admins = new Set<MeshAdmin>();
  const mesh: Mesh = {
    dispatcher,
    identity: code.identity,
    metrics: meshMetrics,
    registry,
    client: (name) => services.client(name),
    services: () => services.names(),
    serviceFor: (authority) => services.serviceFor(authority),
    get unknownHosts() {
      return services.applied.unknownHosts;
    },
    egressFor: (authority, defaultPort = 80) => services.egressFor(authority, defaultPort),
    discoveryOf: (service) => services.discoveryOf(service),
    baseDir: configDir,
    clock: code.clock ?? systemClock,
    get configGeneration() {
      return services.generation;
    },
    get configError() {
      return configError ?? clusterProfiles.error;
    },
    get adminConfig() {
      return services.applied.admin;
    },
    async admin(adminOptions) {
      const admin = await startMeshAdmin(
        { source: mesh, metrics: meshMetrics, clock: code.clock ?? systemClock, logger, configured: () => services.applied.admin, identity: () => code.identity?.current().spiffeId },
        adminOptions,
      );
      admins.add(admin);
      return { ...admin, close: () => (admins.delete(admin), admin.close()) };
    },
    async close() {
      await Promise.all([...admins].map((admin) => admin.close()));
      void watcher?.close();
      await clusterProfiles.close();
      ownIdentity?.close();
      await dispatcher.close();
      await services.close();
      // Last, so the spans of the requests that just finished are sent.
      await ownTracing?.shutdown();
    },
  };
  return mesh;
}

function fromCode(options: MeshOptions): AppliedConfig {
  const services: Record<string, ServiceSettings> = {};
  for (const [name, serviceOptions] of Object.entries(options.services ?? {})) {
    checkServiceName(name);
    const { data } = splitClientOptions(serviceOptions);
    services[name] = validateServiceConfig(name, data, `createMesh: services.${name}`, 'INVALID_OPTIONS');
  }
  return { unknownHosts: options.unknownHosts ?? 'passthrough', services, ...(options.egress === undefined ? {} : { egress: egressFromCode(options.egress) }) };
}

function egressFromCode(config: EgressConfig): EgressEntry[] {
  const parsed = egressSchema.safeParse(config);
  const checked = parsed.success ? egressEntries(parsed.data) : { entries: [], problems: schemaProblems(egressSchema, parsed.error.issues, config) };
  if (checked.problems.length > 0) {
    throw new MeshError('INVALID_OPTIONS', `createMesh: egress: invalid options:\n  - ${checked.problems.map((p) => `${formatPath(p.key ? p.path.slice(0, -1) : p.path)}: ${p.message}`).join('\n  - ')}`);
  }
  return checked.entries;
}

function fromConfig(config: MeshConfig, options: MeshOptions): AppliedConfig {
  return {
    unknownHosts: options.unknownHosts ?? config.unknownHosts,
    services: config.services,
    ...(config.admin ? { admin: config.admin } : {}),
    ...((options.egress ?? config.egress) === undefined ? {} : { egress: options.egress ? egressFromCode(options.egress) : config.egress! }),
  };
}

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
import { IdentitySource } from '../tls/identity-source.js';
import { systemClock } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { ClusterProfileFeed } from '../config/cluster-profile-feed.js';
import type { ConfigSource } from '../config/config-source.js';
import { watchConfigFile, type ConfigRejection } from '../config/config-watcher.js';
import { ConfigReloadMetrics } from '../config/config-reload-metrics.js';
import { parseMeshConfig, type MeshConfig } from '../config/mesh-config.js';
import { validateServiceConfig, type ServiceSettings } from '../config/service-settings.js';
import type { DiscoverySpec } from '../discovery/parse-discovery.js';
import { ServiceRetryBudgets } from '../policy/service-retry-budgets.js';
import { splitClientOptions, type ClientCodeOptions, type MeshClientOptions } from './client-options.js';
import { buildClient, checkServiceName, type ClientEnvironment, type MeshClient } from './mesh-client.js';
import { MeshDispatcher } from './mesh-dispatcher.js';
import { serviceForAuthority } from '../http/authority.js';
import { startMeshAdmin, type MeshAdmin, type MeshAdminOptions } from '../admin/mesh-admin.js';
import { meshTracerProvider } from './mesh-tracer-provider.js';
import type { AdminSection } from '../config/admin-schema.js';

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
  /** The Prometheus registry with every service's golden metrics (`await mesh.metrics.metrics()`). */
  readonly metrics: Registry;
  /** What records into `metrics`, for integrations such as `meshwork/grpc`; undefined with `metrics: false`. */
  readonly recorder: MeshMetrics | undefined;
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
  /** A service's endpoints or discovery, as configured now (gRPC channels resolve through this). */
  discoveryOf(service: string): DiscoverySpec | undefined;
  /** The config file's directory, against which relative discovery paths resolve. */
  readonly baseDir: string | undefined;
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

interface Applied {
  unknownHosts: 'passthrough' | 'refuse';
  services: Record<string, ServiceSettings>;
  admin?: AdminSection;
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
  const ownIdentity =
    !code.identity && firstConfig?.identity
      ? IdentitySource.loadSync(
          {
            certFile: resolve(configDir!, firstConfig.identity.certFile),
            keyFile: resolve(configDir!, firstConfig.identity.keyFile),
            trustAnchorsFile: resolve(configDir!, firstConfig.identity.trustAnchorsFile),
          },
          {
            ...(given.logger ? { logger: given.logger } : {}),
            ...(given.clock ? { clock: given.clock } : {}),
            ...(meshMetrics ? { registry: meshMetrics.registry } : {}),
            ...(firstConfig.identity.expiryWarning ? { warnBeforeMs: firstConfig.identity.expiryWarning } : {}),
          },
        )
      : undefined;
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
  const env: ClientEnvironment = {
    retryBudgetFor: (service, policy) => retryBudgets.budgetFor(service, policy),
    serviceFor: (authority) => {
      const found = serviceForAuthority(authority, (name) => handles.has(name));
      return found === undefined ? undefined : handles.get(found)!.name;
    },
    discoveryOf: (service) => {
      const settings = applied.services[service];
      return settings ? ((settings.endpoints ?? settings.discovery) as DiscoverySpec) : undefined;
    },
  };
  if (configDir) env.baseDir = configDir;

  // ServiceProfiles from the cluster (spec.kubernetes), merged after the file's own.
  let fileConfig = firstConfig;
  const clusterProfiles = new ClusterProfileFeed({
    logger,
    ...(code.clock ? { clock: code.clock } : {}),
    ...(code.random ? { random: code.random } : {}),
    ...(env.baseDir ? { baseDir: env.baseDir } : {}),
    onChange: () => applyClusterProfiles(),
  });
  if (firstConfig) clusterProfiles.configure(firstConfig);
  let applied: Applied = firstConfig ? fromConfig(clusterProfiles.merge(firstConfig), options) : fromCode(options);
  const handles = new Map<string, ServiceHandle>();
  for (const [name, settings] of Object.entries(applied.services)) handles.set(name.toLowerCase(), new ServiceHandle(buildClient(name, settings, code, env)));

  let generation = 1;
  let configError: Error | undefined;
  const fallback = options.fallback ?? getGlobalDispatcher();
  // Asked per request, so a reload that changes unknownHosts takes effect at once.
  // The same rule as the sidecar's: `reviews.default.svc.cluster.local` reaches the service `reviews`.
  const dispatcher = new MeshDispatcher((hostname) => {
    const name = mesh.serviceFor(hostname);
    return name === undefined ? undefined : handles.get(name.toLowerCase());
  }, {
    fallback: () => (applied.unknownHosts === 'passthrough' ? fallback : undefined),
  });

  const closeQuietly = (client: MeshClient, why: string) =>
    client.close().catch((err: unknown) => logger.warn('closing a replaced client failed', { service: client.name, why, error: (err as Error).message }));

  const authorities = new Map<string, string | null>();
  const apply = (next: Applied) => {
    authorities.clear();
    // Build every changed service first: if one fails, nothing is swapped and the old config runs on.
    const built = new Map<string, MeshClient>();
    try {
      for (const [name, settings] of Object.entries(next.services)) {
        const handle = handles.get(name.toLowerCase());
        if (handle && isDeepStrictEqual(applied.services[handle.current.name], settings)) continue;
        built.set(name, buildClient(name, settings, code, env));
      }
    } catch (err) {
      for (const client of built.values()) void closeQuietly(client, 'reload failed');
      throw err;
    }
    applied = next;
    for (const [name, client] of built) {
      const key = name.toLowerCase();
      const handle = handles.get(key);
      if (!handle) {
        handles.set(key, new ServiceHandle(client));
        continue;
      }
      const old = handle.current;
      handle.current = client;
      // In-flight requests hold the old client's stack; close() lets them finish.
      void closeQuietly(old, 'replaced by a reload');
    }
    for (const [key, handle] of handles) {
      if (Object.keys(next.services).some((n) => n.toLowerCase() === key)) continue;
      handles.delete(key);
      void closeQuietly(handle.current, 'removed by a reload');
    }
    generation++;
    configError = undefined;
    logger.info('config reloaded', { file: configName, generation, services: Object.keys(next.services) });
  };

  const registry = (meshMetrics ?? new MeshMetrics()).registry;
  const watching = options.watch !== false && (configPath !== undefined || source !== undefined);
  const reloads = watching ? new ConfigReloadMetrics(registry) : undefined;
  const handlers = {
    onChange: (config: MeshConfig) => {
      try {
        const commit = options.prepareReload?.(config);
        clusterProfiles.configure(config);
        fileConfig = config;
        apply(fromConfig(clusterProfiles.merge(config), options));
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
    const fileError = configError;
    try {
      const next = fromConfig(clusterProfiles.merge(fileConfig), options);
      if (!isDeepStrictEqual(next, applied)) apply(next);
    } catch (err) {
      logger.error('ServiceProfiles from the cluster could not be applied; keeping the last good config', { error: (err as Error).message });
    }
    configError = fileError;
  }

  const admins = new Set<MeshAdmin>();
  const mesh: Mesh = {
    dispatcher,
    identity: code.identity,
    metrics: registry,
    recorder: meshMetrics,
    client(name) {
      const handle = handles.get(name.toLowerCase());
      if (!handle) {
        throw new MeshError('UNKNOWN_SERVICE', `the mesh has no service "${name}"; it has: ${[...handles.keys()].join(', ') || '(none)'}`, { service: name });
      }
      return handle;
    },
    services: () => [...handles.keys()],
    serviceFor(authority) {
      // Asked per request by the sidecar: remembered per config, since a reload can change the answer.
      let found = authorities.get(authority);
      if (found === undefined) {
        found = env.serviceFor!(authority) ?? null;
        if (authorities.size >= 1024) authorities.clear();
        authorities.set(authority, found);
      }
      return found ?? undefined;
    },
    get unknownHosts() {
      return applied.unknownHosts;
    },
    discoveryOf: (service) => {
      const name = env.serviceFor!(service.toLowerCase());
      return name === undefined ? undefined : env.discoveryOf!(name);
    },
    baseDir: env.baseDir,
    get configGeneration() {
      return generation;
    },
    get configError() {
      return configError ?? clusterProfiles.error;
    },
    get adminConfig() {
      return applied.admin;
    },
    async admin(adminOptions) {
      const admin = await startMeshAdmin(
        { source: mesh, metrics: meshMetrics, clock: code.clock ?? systemClock, logger, configured: () => applied.admin, identity: () => code.identity?.current().spiffeId },
        adminOptions,
      );
      admins.add(admin);
      return { ...admin, close: () => (admins.delete(admin), admin.close()) };
    },
    async close() {
      await Promise.all([...admins].map((admin) => admin.close()));
      watcher?.close();
      await clusterProfiles.close();
      ownIdentity?.close();
      await dispatcher.close();
      await Promise.all([...handles.values()].map((h) => h.current.close()));
      // Last, so the spans of the requests that just finished are sent.
      await ownTracing?.shutdown();
    },
  };
  return mesh;
}

function fromCode(options: MeshOptions): Applied {
  const services: Record<string, ServiceSettings> = {};
  for (const [name, serviceOptions] of Object.entries(options.services ?? {})) {
    checkServiceName(name);
    const { data } = splitClientOptions(serviceOptions);
    services[name] = validateServiceConfig(name, data, `createMesh: services.${name}`, 'INVALID_OPTIONS');
  }
  return { unknownHosts: options.unknownHosts ?? 'passthrough', services };
}

function fromConfig(config: MeshConfig, options: MeshOptions): Applied {
  return { unknownHosts: options.unknownHosts ?? config.unknownHosts, services: config.services, ...(config.admin ? { admin: config.admin } : {}) };
}

/** A stable face for one service whose client a reload may replace underneath. */
class ServiceHandle implements MeshClient {
  current: MeshClient;
  readonly dispatcher: Dispatcher;

  constructor(client: MeshClient) {
    this.current = client;
    this.dispatcher = new MeshDispatcher(() => this);
  }

  get name() {
    return this.current.name;
  }
  get stack() {
    return this.current.stack;
  }
  get settings() {
    return this.current.settings;
  }
  get metrics() {
    return this.current.metrics;
  }
  request(req: Parameters<MeshClient['request']>[0]) {
    return this.current.request(req);
  }
  fetch(path: string, init?: Parameters<MeshClient['fetch']>[1]) {
    return this.current.fetch(path, init);
  }
  endpoints() {
    return this.current.endpoints();
  }
  counters() {
    return this.current.counters();
  }
  status() {
    return this.current.status();
  }
  get retryBudget() {
    return this.current.retryBudget;
  }
  close() {
    return this.current.close();
  }
}

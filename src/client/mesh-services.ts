/**
 * The services of a mesh as configured now, and the swap a reload makes: every changed service's
 * client is built first (if one fails, nothing changes and the old config runs on), then the
 * handles move to the new clients and the old ones close after their requests in flight.
 */
import { isDeepStrictEqual } from 'node:util';
import { MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AdminSection } from '../config/admin-schema.js';
import type { EgressEntry } from '../config/egress-schema.js';
import type { ServiceSettings } from '../config/service-settings.js';
import type { DiscoverySpec } from '../discovery/parse-discovery.js';
import { serviceForAuthority } from '../http/authority.js';
import type { ClientCodeOptions } from './client-options.js';
import { buildClient, type ClientEnvironment, type MeshClient } from './mesh-client.js';
import { ServiceHandle } from './service-handle.js';
import { EgressDenials, EgressPolicy, egressHostPort, type EgressDecision } from './egress-policy.js';

/** What a config (or the code options) says about the services. */
export interface AppliedConfig {
  unknownHosts: 'passthrough' | 'refuse';
  services: Record<string, ServiceSettings>;
  admin?: AdminSection;
  /** The external hosts allowed (spec.egress); when set, other hosts that are not services are refused. */
  egress?: EgressEntry[];
}

export class MeshServices {
  applied: AppliedConfig;
  /** How many configs have been applied: 1 after start, +1 per good reload. */
  generation = 1;
  readonly #handles = new Map<string, ServiceHandle>();
  /** Authority → service answers, asked per request by the sidecar; cleared by a reload. */
  readonly #authorities = new Map<string, string | null>();
  readonly #code: ClientCodeOptions;
  readonly #env: ClientEnvironment;
  readonly #logger: Logger;
  /** The config a reload is building clients for, which their lookups of other services must see. */
  #building: AppliedConfig | undefined;
  readonly #denials: EgressDenials;
  #egress: EgressPolicy | undefined;

  constructor(first: AppliedConfig, code: ClientCodeOptions, env: Omit<ClientEnvironment, 'serviceFor' | 'discoveryOf' | 'subsetsOf'>, logger: Logger) {
    this.applied = first;
    this.#code = code;
    this.#logger = logger;
    this.#env = {
      ...env,
      serviceFor: (authority) => this.#lookup(authority),
      discoveryOf: (service) => this.#discovery(service),
      subsetsOf: (service) => this.#configured().services[this.#lookup(service) ?? service]?.subsets,
    };
    for (const [name, settings] of Object.entries(first.services)) this.#handles.set(name.toLowerCase(), new ServiceHandle(buildClient(name, settings, code, this.#env)));
    this.#denials = new EgressDenials(code.metrics ? code.metrics.registry : undefined);
    this.#egress = this.#egressPolicy(first.egress);
  }

  /**
   * With an egress policy, what to do with an authority that names no service: the client of an
   * allowed external host, or the refusal. Undefined without a policy (unknownHosts decides).
   */
  egressFor(authority: string, defaultPort: number, withClient = true): EgressDecision | undefined {
    if (this.#egress === undefined) return undefined;
    const { host, port } = egressHostPort(authority, defaultPort);
    return this.#egress.decide(host, port, withClient);
  }

  #egressPolicy(entries: EgressEntry[] | undefined): EgressPolicy | undefined {
    if (entries === undefined) return undefined;
    return new EgressPolicy(entries, (name, settings) => buildClient(name, settings, { ...this.#code, direction: 'egress' }, this.#env), this.#denials);
  }

  /** The handle of a service by name (any case); throws UNKNOWN_SERVICE naming the services there are. */
  client(name: string): ServiceHandle {
    const handle = this.#handles.get(name.toLowerCase());
    if (!handle) throw new MeshError('UNKNOWN_SERVICE', `the mesh has no service "${name}"; it has: ${this.names().join(', ') || '(none)'}`, { service: name });
    return handle;
  }

  /** The handle, or undefined, for a name already in lower case. */
  handle(lowerCaseName: string): ServiceHandle | undefined {
    return this.#handles.get(lowerCaseName);
  }

  names(): string[] {
    return [...this.#handles.keys()];
  }

  /** The service an authority names (http/authority.ts), remembered until the next reload. */
  serviceFor(authority: string): string | undefined {
    let found = this.#authorities.get(authority);
    if (found === undefined) {
      found = this.#lookup(authority) ?? null;
      if (this.#authorities.size >= 1024) this.#authorities.clear();
      this.#authorities.set(authority, found);
    }
    return found ?? undefined;
  }

  discoveryOf(service: string): DiscoverySpec | undefined {
    const name = this.#lookup(service);
    return name === undefined ? undefined : this.#discovery(name);
  }

  /** Swaps in `next`: only services whose settings changed get a new client. */
  apply(next: AppliedConfig, source: string | undefined): void {
    const built = new Map<string, MeshClient>();
    this.#building = next;
    try {
      for (const [name, settings] of Object.entries(next.services)) {
        const handle = this.#handles.get(name.toLowerCase());
        if (handle && isDeepStrictEqual(this.applied.services[handle.current.name], settings) && !this.#subsetsChangedUnder(settings, next)) continue;
        built.set(name, buildClient(name, settings, this.#code, this.#env));
      }
    } catch (err) {
      for (const client of built.values()) void this.#closeQuietly(client, 'reload failed');
      throw err;
    } finally {
      this.#building = undefined;
    }
    if (!isDeepStrictEqual(this.applied.egress, next.egress)) {
      // The old policy's clients finish their requests in flight, then close.
      const old = this.#egress;
      this.#egress = this.#egressPolicy(next.egress);
      void old?.close().catch((err: unknown) => this.#logger.warn('closing the replaced egress clients failed', { error: (err as Error).message }));
    }
    this.applied = next;
    this.#authorities.clear();
    for (const [name, client] of built) {
      const key = name.toLowerCase();
      const handle = this.#handles.get(key);
      if (!handle) {
        this.#handles.set(key, new ServiceHandle(client));
        continue;
      }
      const old = handle.current;
      handle.current = client;
      // In-flight requests hold the old client's stack; close() lets them finish.
      void this.#closeQuietly(old, 'replaced by a reload');
    }
    for (const [key, handle] of this.#handles) {
      if (Object.keys(next.services).some((n) => n.toLowerCase() === key)) continue;
      this.#handles.delete(key);
      void this.#closeQuietly(handle.current, 'removed by a reload');
    }
    this.generation++;
    this.#logger.info('config reloaded', { file: source, generation: this.generation, services: Object.keys(next.services) });
  }

  close(): Promise<void> {
    return Promise.all([...[...this.#handles.values()].map((h) => h.current.close()), this.#egress?.close()]).then(() => undefined);
  }

  #lookup(authority: string): string | undefined {
    const found = serviceForAuthority(authority, (name) => this.#handles.has(name));
    return found === undefined ? undefined : this.#handles.get(found)!.name;
  }

  #configured(): AppliedConfig {
    return this.#building ?? this.applied;
  }

  /** Whether a service whose subsets these settings route to has new subsets in `next`. */
  #subsetsChangedUnder(settings: ServiceSettings, next: AppliedConfig): boolean {
    const targets = new Set<string>();
    for (const d of settings.policy.split ?? []) if (d.subset !== undefined) targets.add(d.service);
    for (const route of settings.policy.routes ?? []) {
      for (const d of route.split ?? []) if (d.subset !== undefined) targets.add(d.service);
    }
    for (const target of targets) {
      const name = this.#lookup(target) ?? target;
      if (!isDeepStrictEqual(this.applied.services[name]?.subsets, next.services[name]?.subsets)) return true;
    }
    return false;
  }

  #discovery(service: string): DiscoverySpec | undefined {
    const settings = this.#configured().services[service];
    return settings ? ((settings.endpoints ?? settings.discovery) as DiscoverySpec) : undefined;
  }

  #closeQuietly(client: MeshClient, why: string): Promise<void> {
    return client.close().catch((err: unknown) => this.#logger.warn('closing a replaced client failed', { service: client.name, why, error: (err as Error).message }));
  }
}

/**
 * The egress policy of a mesh (spec.egress): which external hosts may be called, and the client
 * each is called through. An allowed host and port becomes a service of its own the first time it
 * is called, named `host:port`, with its entry's options (timeout, retries, breaker, ...) and
 * direction="egress" in the metrics, reached by DNS at that host and port unless the entry gives
 * endpoints. A host no entry allows is refused, and counted in
 * `meshwork_egress_denied_total{host}`, whether the sidecar's outbound port or `mesh.dispatcher`
 * (fetch) was asked.
 */
import { Counter, type Registry } from 'prom-client';
import { MeshError } from '../core/errors.js';
import { egressServiceInput, type EgressEntry } from '../config/egress-schema.js';
import { hostMatches } from '../config/host-pattern.js';
import { validateServiceConfig, type ServiceSettings } from '../config/service-settings.js';
import type { MeshClient } from './mesh-client.js';

/** `allowed` without a client: the caller sends the request another way (TLS to the host, which the stack does not originate). */
export type EgressDecision = { client: MeshClient } | { allowed: true } | { denied: MeshError };

/**
 * How many allowed hosts keep a client at once. A wildcard entry (or `*`) lets the caller choose any
 * number of names; beyond this, the least recently used client is closed (its requests in flight
 * finish) and made again if that host is called later.
 */
export const MAX_EGRESS_CLIENTS = 256;

/** Distinct host labels kept in the denial counter; more are counted as `other` (the names are the caller's to choose). */
const MAX_DENIED_HOSTS = 500;

const DENIED_METRIC = 'meshwork_egress_denied_total';

/** The denial counter, one per registry, kept across reloads that replace the policy. */
export class EgressDenials {
  readonly #counter: Counter<'host'> | undefined;
  readonly #hosts = new Set<string>();

  constructor(registry: Registry | undefined) {
    // Meshes that share a registry count in the same series.
    this.#counter = registry
      ? ((registry.getSingleMetric(DENIED_METRIC) as Counter<'host'> | undefined) ??
        new Counter({ name: DENIED_METRIC, help: 'Requests to external hosts refused because spec.egress does not allow them, by host.', labelNames: ['host'], registers: [registry] }))
      : undefined;
  }

  count(host: string): void {
    if (!this.#hosts.has(host) && this.#hosts.size >= MAX_DENIED_HOSTS) host = 'other';
    else this.#hosts.add(host);
    this.#counter?.inc({ host });
  }
}

export class EgressPolicy {
  readonly entries: EgressEntry[];
  readonly #build: (name: string, settings: ServiceSettings) => MeshClient;
  readonly #denials: EgressDenials;
  readonly #clients = new Map<string, MeshClient>();

  readonly #maxClients: number;

  constructor(entries: EgressEntry[], build: (name: string, settings: ServiceSettings) => MeshClient, denials: EgressDenials, maxClients = MAX_EGRESS_CLIENTS) {
    this.entries = entries;
    this.#build = build;
    this.#denials = denials;
    this.#maxClients = maxClients;
  }

  /** The hosts that have a client now, least recently used first. */
  clients(): string[] {
    return [...this.#clients.keys()];
  }

  /** For a host (lower case, no trailing dot) and port: its client (or only the permission), or the refusal (counted). */
  decide(host: string, port: number, withClient = true): EgressDecision {
    const name = `${host}:${port}`;
    const known = this.#clients.get(name);
    if (known) {
      if (!withClient) return { allowed: true };
      // Map order is use order: the first key is the least recently used.
      this.#clients.delete(name);
      this.#clients.set(name, known);
      return { client: known };
    }
    const entry = this.entries.find((e) => hostMatches(e.host, host) && (e.ports === undefined || e.ports.includes(port)));
    if (entry === undefined) {
      this.#denials.count(host);
      return { denied: new MeshError('EGRESS_DENIED', `${name} is not an allowed external host (spec.egress allows ${this.entries.map(describeEntry).join(', ') || 'none'})`, { service: name }) };
    }
    if (!withClient) return { allowed: true };
    const settings = validateServiceConfig(name, egressServiceInput(entry, host, port), `spec.egress host ${entry.host}`, 'INVALID_CONFIG');
    const client = this.#build(name, settings);
    this.#clients.set(name, client);
    if (this.#clients.size > this.#maxClients) {
      const [oldest, evicted] = this.#clients.entries().next().value as [string, MeshClient];
      this.#clients.delete(oldest);
      void evicted.close().catch(() => undefined);
    }
    return { client };
  }

  /** Closes the clients; requests in flight finish first. */
  close(): Promise<void> {
    return Promise.all([...this.#clients.values()].map((c) => c.close())).then(() => undefined);
  }
}

/** An authority (`host`, `host:port`, `[v6]:port`) as the policy compares it, with the port a scheme implies. */
export function egressHostPort(authority: string, defaultPort: number): { host: string; port: number } {
  const lower = authority.toLowerCase();
  const bracket = lower.startsWith('[') ? lower.indexOf(']') : -1;
  const colon = lower.lastIndexOf(':');
  const hasPort = colon > bracket && /^\d+$/.test(lower.slice(colon + 1));
  const host = (hasPort ? lower.slice(0, colon) : lower).replace(/\.$/, '');
  return { host, port: hasPort ? Number(lower.slice(colon + 1)) : defaultPort };
}

function describeEntry(entry: EgressEntry): string {
  return entry.ports ? `${entry.host}:${entry.ports.join('|')}` : entry.host;
}

/**
 * Endpoints from DNS: A/AAAA records of a host name with a fixed port, or SRV records (each target's
 * addresses, with the SRV port and weight). Records are re-resolved when their TTL runs out (clamped
 * so a TTL of 0 cannot spin and a day-long TTL cannot freeze the set), or on a fixed interval.
 *
 * A failed lookup, or an answer with no records after a good one, keeps the last set: DNS hiccups are
 * common and must not empty a service. Failures retry with a growing delay. The nameserver can be
 * given (`nameservers: ['127.0.0.1:5353']`), which is how the tests point it at a real dnsmasq.
 */
import { Resolver as NodeDnsResolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import type { EndpointAddress } from './endpoint-address.js';
import { sameEndpointSet } from './endpoint-list.js';
import type { Resolver, ResolverListener } from './resolver.js';

interface DnsCommon {
  nameservers?: string[];
  /** Re-resolve on this fixed interval instead of the records' TTL, ms. */
  refreshIntervalMs?: number;
  /** Bounds on the TTL-driven refresh, ms. Defaults 1 000 and 30 000. */
  minRefreshMs?: number;
  maxRefreshMs?: number;
  /** One query's timeout, ms. Default 2 000. */
  queryTimeoutMs?: number;
  clock?: Clock;
}

export type DnsResolverOptions =
  | (DnsCommon & { mode: 'host'; hostname: string; port: number })
  | (DnsCommon & { mode: 'srv'; name: string });

interface Answer {
  endpoints: EndpointAddress[];
  ttlSeconds: number;
}

const MAX_FAILURE_BACKOFF_MS = 30_000;

export class DnsResolver implements Resolver {
  readonly description: string;
  readonly #options: DnsResolverOptions;
  readonly #dns: NodeDnsResolver;
  readonly #clock: Clock;
  #listener: ResolverListener | undefined;
  #timer: TimerHandle | undefined;
  #last: readonly EndpointAddress[] | undefined;
  #failures = 0;
  #closed = false;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(options: DnsResolverOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#dns = new NodeDnsResolver({ timeout: options.queryTimeoutMs ?? 2_000, tries: 2 });
    if (options.nameservers && options.nameservers.length > 0) this.#dns.setServers(options.nameservers);
    const target = options.mode === 'host' ? `dns:${options.hostname}:${options.port}` : `dns+srv:${options.name}`;
    this.description = options.nameservers?.length ? `${target} via ${options.nameservers.join(',')}` : target;
  }

  start(listener: ResolverListener): void {
    this.#listener = listener;
    this.#inFlight = this.#refresh();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#dns.cancel();
    await this.#inFlight.catch(() => undefined);
  }

  async #refresh(): Promise<void> {
    if (this.#closed) return;
    let nextMs: number;
    try {
      const answer = this.#options.mode === 'host' ? await this.#resolveHost(this.#options.hostname, this.#options.port) : await this.#resolveSrv(this.#options.name);
      if (this.#closed) return;
      if (answer.endpoints.length === 0) throw new Error('the answer had no records');
      this.#failures = 0;
      if (!sameEndpointSet(this.#last, answer.endpoints)) {
        this.#last = answer.endpoints;
        this.#listener?.onEndpoints(answer.endpoints);
      }
      nextMs = this.#options.refreshIntervalMs ?? this.#clampTtl(answer.ttlSeconds);
    } catch (err) {
      if (this.#closed) return;
      this.#failures++;
      const code = (err as { code?: string }).code;
      const servers = this.#dns.getServers().join(', ') || 'system default';
      const kept = this.#last ? `keeping the last ${this.#last.length} endpoint(s)` : 'no endpoints known yet';
      this.#listener?.onError(
        new Error(`${this.description}: ${this.#options.mode === 'host' ? 'A/AAAA' : 'SRV'} lookup failed (${code ?? (err as Error).message}) via nameserver ${servers}; ${kept}`),
      );
      const base = this.#options.refreshIntervalMs ?? this.#options.minRefreshMs ?? 1_000;
      nextMs = Math.min(MAX_FAILURE_BACKOFF_MS, base * 2 ** Math.min(this.#failures - 1, 10));
    }
    this.#timer = this.#clock.setTimer(() => {
      this.#inFlight = this.#refresh();
    }, nextMs);
  }

  #clampTtl(ttlSeconds: number): number {
    const min = this.#options.minRefreshMs ?? 1_000;
    const max = this.#options.maxRefreshMs ?? 30_000;
    return Math.min(max, Math.max(min, ttlSeconds * 1000));
  }

  async #resolveHost(hostname: string, port: number, weight?: number): Promise<Answer> {
    if (isIP(hostname)) return { endpoints: [{ host: hostname, port }], ttlSeconds: Infinity };
    const [v4, v6] = await Promise.allSettled([this.#dns.resolve4(hostname, { ttl: true }), this.#dns.resolve6(hostname, { ttl: true })]);
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (records.length === 0) {
      // Report the more telling of the two failures (A's, unless only AAAA failed oddly).
      throw v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : new Error('no records');
    }
    return {
      endpoints: records.map((r) => ({ host: r.address, port, ...(weight === undefined ? {} : { weight }) })),
      ttlSeconds: Math.min(...records.map((r) => r.ttl)),
    };
  }

  async #resolveSrv(name: string): Promise<Answer> {
    // Port 0 and the target "." say the service is not there (RFC 2782); neither is an endpoint.
    const records = (await this.#dns.resolveSrv(name)).filter((r) => r.port > 0 && r.name !== '' && r.name !== '.');
    const answers = await Promise.all(records.map((r) => this.#resolveHost(r.name, r.port, r.weight > 0 ? r.weight : undefined)));
    // resolveSrv gives no TTL; the targets' address TTLs bound how long the set stays right.
    return { endpoints: answers.flatMap((a) => a.endpoints), ttlSeconds: Math.min(...answers.map((a) => a.ttlSeconds)) };
  }
}

/**
 * What discovery yields: a network address, with an optional weight and labels (zone, version, ...)
 * that later balancers and traffic splits may use.
 */
import { quoteValue } from '../core/quote-value.js';

export interface EndpointAddress {
  readonly host: string;
  readonly port: number;
  readonly weight?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** The SPIFFE ID the endpoint must prove; its presence means "reach it over mTLS". */
  readonly identity?: string;
}

/** The stable identity of an endpoint: `host:port`, with IPv6 hosts bracketed. */
export function endpointKey(address: Pick<EndpointAddress, 'host' | 'port'>): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Parses `host:port` / `[v6]:port`. Throws a plain Error quoting the bad text; callers wrap it with the
 * context they know (service, file, field).
 */
export function parseEndpoint(text: string): EndpointAddress {
  const trimmed = text.trim();
  const match = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(trimmed) ?? /^([^:[\]\s]+):(\d+)$/.exec(trimmed);
  if (!match) throw new Error(`expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080, got ${quoteValue(text)}`);
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${match[2]} is out of range 1-65535, got ${quoteValue(text)}`);
  return { host: match[1]!, port };
}

/**
 * Listen and forward addresses as people write them: `127.0.0.1:4140`, `[::1]:4140`, `0.0.0.0:4143`,
 * a bare port (`8080`, meaning loopback), or `none` to turn a listener off.
 */
import { quoteValue } from '../core/quote-value.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses an address; returns null for `none`, or a message saying what is wrong. */
export function parseHostPort(text: string, defaultHost = '127.0.0.1'): HostPort | null | { problem: string } {
  const value = text.trim();
  if (value === 'none') return null;
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(value);
  const plain = /^([A-Za-z0-9.-]+):(\d+)$/.exec(value);
  const bare = /^(\d+)$/.exec(value);
  const match = bracketed ?? plain;
  const host = match ? match[1]! : bare ? defaultHost : undefined;
  const portText = match ? match[2]! : bare ? bare[1]! : undefined;
  if (host === undefined || portText === undefined) {
    return { problem: `expected host:port (e.g. 127.0.0.1:4140), a port, or none, got ${quoteValue(text)}` };
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return { problem: `port ${portText} is out of range 0-65535, got ${quoteValue(text)}` };
  return { host, port };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

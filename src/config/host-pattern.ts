/**
 * Host patterns, as gateway routes, server certificates and the egress allow-list write them:
 * `shop.example.com`, `*.example.com` (any subdomain, at any depth, as Envoy's domain wildcards and
 * Istio's hosts take it; not `example.com` itself), or `*` for every host. Written in any case and
 * with or without a trailing dot; compared in lower case without it.
 */
import { z } from 'zod';

const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/;

export const hostPatternSchema = z
  .string()
  .transform((host) => host.toLowerCase().replace(/\.$/, ''))
  .refine((host) => HOST_PATTERN.test(host), { message: 'expected a host name (shop.example.com), a wildcard (*.example.com) or *' });

/** Whether `host` (lower case, no trailing dot) is one `pattern` names. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
  return pattern === host;
}

/**
 * The `spec.egress` section of a `kind: Mesh` document: the external hosts this process may call,
 * like Istio's ServiceEntry with `outboundTrafficPolicy: REGISTRY_ONLY`. Each allowed host (exact, or
 * `*.example.com` for any subdomain; optionally only some ports) becomes a service of its own, with
 * the service options written next to it (timeout, retries, breaker, ...), reached by DNS at the
 * host and port the caller addressed unless `endpoints` or `discovery` say otherwise. Any other host
 * that is not a mesh service is refused (EGRESS_DENIED), by the sidecar and by `mesh.dispatcher`.
 * Istio's `kind: ServiceEntry` (service-entry.ts) adds entries to the same list.
 */
import { z } from 'zod';
import { hostPatternSchema } from './host-pattern.js';
import { checkServiceConfig } from './service-settings.js';
import type { SchemaProblem } from './schema-problems.js';

const port = z.number().int('expected a whole number').min(1, 'expected a port from 1 to 65535').max(65535, 'expected a port from 1 to 65535');

const entrySchema = z
  .object({
    host: hostPatternSchema,
    ports: z.array(port).min(1, 'expected at least one port, or leave ports out for any port').optional(),
  })
  .passthrough();

export const egressSchema = z.object({ allow: z.array(entrySchema) }).strict();
export type EgressConfig = z.input<typeof egressSchema>;

export interface EgressEntry {
  host: string;
  /** Any port when undefined. */
  ports?: number[];
  /** The service options the host is called with (timeout, retries, endpoints, ...), as written. */
  options: Record<string, unknown>;
}

/**
 * How an allowed host is reached: DNS at the host and port addressed, unless the entry names its
 * endpoints; a `discovery: { type: dns, nameservers, ... }` without a hostname takes the knobs and
 * still resolves the host and port addressed.
 */
export function egressServiceInput(entry: EgressEntry, host: string, port: number): Record<string, unknown> {
  const discovery = entry.options.discovery as Record<string, unknown> | undefined;
  if (discovery !== null && typeof discovery === 'object' && !Array.isArray(discovery) && discovery.type === 'dns' && discovery.hostname === undefined) {
    return { ...entry.options, discovery: { ...discovery, hostname: host, port } };
  }
  const reached = entry.options.endpoints !== undefined || discovery !== undefined;
  return reached ? entry.options : { ...entry.options, discovery: `dns:${host}:${port}` };
}

/** The entries of a valid section, and the problems of their service options (paths under spec.egress). */
export function egressEntries(parsed: z.output<typeof egressSchema>): { entries: EgressEntry[]; problems: SchemaProblem[] } {
  const entries: EgressEntry[] = [];
  const problems: SchemaProblem[] = [];
  parsed.allow.forEach((written, i) => {
    const { host, ports, ...options } = written;
    const entry: EgressEntry = { host, ...(ports ? { ports } : {}), options };
    // Checked once with a stand-in host, so a mistake is reported at load rather than at the first call.
    const checked = checkServiceConfig(egressServiceInput(entry, host.replace(/^\*\.?/, 'egress-check.'), ports?.[0] ?? 80));
    if ('problems' in checked) for (const p of checked.problems) problems.push({ ...p, path: ['allow', i, ...p.path] });
    else entries.push(entry);
  });
  return { entries, problems };
}

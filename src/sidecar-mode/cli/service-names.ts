/**
 * How the command-line views name a service: `direction/name`, as linkerd names a resource
 * `type/name`, because the same name can be both a service the app calls (outbound) and the
 * authority its callers address (inbound). A filter may give the name alone, for both.
 */
import type { ServiceSummary } from '../../admin/mesh-summary.js';
import type { HostPort } from '../../config/listen-address.js';
import type { Direction } from '../../telemetry/mesh-metrics.js';
import type { Output } from '../cli-args.js';
import { getAdminJson, type MeshSummary } from './admin-client.js';
import type { CommandIo } from './command-io.js';

/** What `stat` and `routes` are asked: which sidecar, how to print, and which services. */
export interface ServiceViewOptions {
  admin: HostPort;
  output: Output;
  name?: string;
  direction?: Direction;
}

/**
 * The summary and the services asked for; undefined (with the reason on stderr) when a name was
 * given that no service has.
 */
export async function readServices(command: string, options: ServiceViewOptions, io: CommandIo): Promise<{ summary: MeshSummary; services: ServiceSummary[] } | undefined> {
  const summary = await getAdminJson<MeshSummary>(options.admin, '/api/summary');
  const services = summary.services.filter((s) => (options.direction === undefined || s.direction === options.direction) && (options.name === undefined || nameMatches(s, options.name)));
  if (options.name !== undefined && services.length === 0) {
    io.err(`mesh-sidecar ${command}: no service named ${JSON.stringify(options.name)}${options.direction ? ` (${options.direction})` : ''}; the sidecar has: ${summary.services.map(qualifiedName).join(', ') || '(none)'}\n`);
    return undefined;
  }
  return { summary, services };
}

export function qualifiedName(service: Pick<ServiceSummary, 'direction' | 'name'>): string {
  return `${service.direction}/${service.name}`;
}

export function nameMatches(service: Pick<ServiceSummary, 'direction' | 'name'>, wanted: string): boolean {
  const name = wanted.toLowerCase();
  return qualifiedName(service).toLowerCase() === name || service.name.toLowerCase() === name;
}

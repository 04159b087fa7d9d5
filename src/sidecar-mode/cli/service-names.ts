/**
 * How the command-line views name a service: `direction/name`, as linkerd names a resource
 * `type/name`, because the same name can be both a service the app calls (outbound) and the
 * authority its callers address (inbound). A filter may give the name alone, for both.
 */
import type { ServiceSummary } from '../../admin/mesh-summary.js';

export function qualifiedName(service: Pick<ServiceSummary, 'direction' | 'name'>): string {
  return `${service.direction}/${service.name}`;
}

export function nameMatches(service: Pick<ServiceSummary, 'direction' | 'name'>, wanted: string): boolean {
  const name = wanted.toLowerCase();
  return qualifiedName(service).toLowerCase() === name || service.name.toLowerCase() === name;
}

/**
 * `mesh-sidecar stat`: one row per service and direction with linkerd viz stat's columns, plus the
 * retries sent and the breaker's state; -o wide adds the retry budget, faults, limit refusals and
 * endpoints, -o json the summary's own objects.
 */
import type { CommandIo } from './command-io.js';
import { qualifiedName, readServices, type ServiceViewOptions } from './service-names.js';
import { formatTable, TRAFFIC_COLUMNS, trafficCells, type Align } from './text-table.js';

export async function statCommand(options: ServiceViewOptions, io: CommandIo): Promise<number> {
  const read = await readServices('stat', options, io);
  if (read === undefined) return 1;
  const { summary, services } = read;
  if (options.output === 'json') {
    io.out(`${JSON.stringify({ windowMs: summary.windowMs, coveredMs: summary.coveredMs, services }, null, 2)}\n`);
    return 0;
  }
  if (services.length === 0) {
    io.err('No traffic found.\n');
    return 0;
  }
  const wide = options.output === 'wide';
  const header = ['NAME', ...TRAFFIC_COLUMNS, 'RETRIES', 'BREAKER', ...(wide ? ['BUDGET', 'FAULTS', 'LIMITED', 'ENDPOINTS', 'EJECTED'] : [])];
  const rows = services.map((s) => [
    qualifiedName(s),
    ...trafficCells(s),
    perSecond(s.retries.perSecond),
    s.breaker?.state ?? '-',
    ...(wide
      ? [s.retries.budget ? String(s.retries.budget.available) : '-', perSecond(s.faultsPerSecond), perSecond(s.limitedPerSecond), String(s.endpoints.length), String(s.endpoints.filter((e) => e.ejected).length)]
      : []),
  ]);
  const align: Align[] = header.map((_, i) => (i === 0 ? 'left' : 'right'));
  io.out(`${formatTable(header, rows, align).join('\n')}\n`);
  return 0;
}

function perSecond(rate: number): string {
  return `${rate.toFixed(1)}/s`;
}

/**
 * `mesh-sidecar routes`: linkerd viz routes' table — success, rate and latency per route of each
 * service, requests that matched no route as `[DEFAULT]`; -o wide adds the requests counted.
 */
import { DEFAULT_ROUTE } from '../../telemetry/mesh-metrics.js';
import type { CommandIo } from './command-io.js';
import { qualifiedName, readServices, type ServiceViewOptions } from './service-names.js';
import { formatTable, TRAFFIC_COLUMNS, trafficCells, type Align } from './text-table.js';

export async function routesCommand(options: ServiceViewOptions, io: CommandIo): Promise<number> {
  const read = await readServices('routes', options, io);
  if (read === undefined) return 1;
  const { summary, services } = read;
  const routes = services.flatMap((service) => service.routes.map((route) => ({ service, route })));
  if (options.output === 'json') {
    io.out(`${JSON.stringify({ windowMs: summary.windowMs, coveredMs: summary.coveredMs, routes: routes.map(({ service, route }) => ({ direction: service.direction, service: service.name, ...route })) }, null, 2)}\n`);
    return 0;
  }
  if (routes.length === 0) {
    io.err('No traffic found.\n');
    return 0;
  }
  const wide = options.output === 'wide';
  const header = ['ROUTE', 'SERVICE', ...TRAFFIC_COLUMNS, ...(wide ? ['REQUESTS'] : [])];
  const rows = routes.map(({ service, route }) => [
    route.route === DEFAULT_ROUTE ? '[DEFAULT]' : route.route,
    qualifiedName(service),
    ...trafficCells(route),
    ...(wide ? [String(route.requests)] : []),
  ]);
  const align: Align[] = header.map((_, i) => (i < 2 ? 'left' : 'right'));
  io.out(`${formatTable(header, rows, align).join('\n')}\n`);
  return 0;
}

/**
 * `mesh-sidecar routes`: linkerd viz routes' table — success, rate and latency per route of each
 * service, requests that matched no route as `[DEFAULT]`; -o wide adds the requests counted.
 */
import type { HostPort } from '../../config/listen-address.js';
import { DEFAULT_ROUTE, type Direction } from '../../telemetry/mesh-metrics.js';
import type { Output } from '../cli-args.js';
import { getAdminJson, type MeshSummary } from './admin-client.js';
import type { CommandIo } from './command-io.js';
import { qualifiedName } from './service-names.js';
import { selectServices } from './stat-command.js';
import { formatLatency, formatRps, formatSuccess, formatTable, type Align } from './text-table.js';

export interface RoutesOptions {
  admin: HostPort;
  output: Output;
  name?: string;
  direction?: Direction;
}

export async function routesCommand(options: RoutesOptions, io: CommandIo): Promise<number> {
  const summary = await getAdminJson<MeshSummary>(options.admin, '/api/summary');
  const services = selectServices(summary, options);
  if (services === undefined) {
    io.err(`mesh-sidecar routes: no service named ${JSON.stringify(options.name)}; the sidecar has: ${summary.services.map(qualifiedName).join(', ') || '(none)'}\n`);
    return 1;
  }
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
  const header = ['ROUTE', 'SERVICE', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', ...(wide ? ['REQUESTS'] : [])];
  const rows = routes.map(({ service, route }) => [
    route.route === DEFAULT_ROUTE ? '[DEFAULT]' : route.route,
    qualifiedName(service),
    formatSuccess(route.successRate),
    formatRps(route.rps),
    formatLatency(route.latencyMs.p50),
    formatLatency(route.latencyMs.p95),
    formatLatency(route.latencyMs.p99),
    ...(wide ? [String(route.requests)] : []),
  ]);
  const align: Align[] = header.map((_, i) => (i < 2 ? 'left' : 'right'));
  io.out(`${formatTable(header, rows, align).join('\n')}\n`);
  return 0;
}

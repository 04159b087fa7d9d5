/**
 * `mesh-sidecar stat`: one row per service and direction with linkerd viz stat's columns, plus the
 * retries sent and the breaker's state; -o wide adds the retry budget, faults, limit refusals and
 * endpoints, -o json the summary's own objects.
 */
import type { Output } from '../cli-args.js';
import type { Direction } from '../../telemetry/mesh-metrics.js';
import type { ServiceSummary } from '../../admin/mesh-summary.js';
import { getAdminJson, type MeshSummary } from './admin-client.js';
import type { CommandIo } from './command-io.js';
import { nameMatches, qualifiedName } from './service-names.js';
import { formatLatency, formatRps, formatSuccess, formatTable, type Align } from './text-table.js';
import type { HostPort } from '../../config/listen-address.js';

export interface StatOptions {
  admin: HostPort;
  output: Output;
  name?: string;
  direction?: Direction;
}

export async function statCommand(options: StatOptions, io: CommandIo): Promise<number> {
  const summary = await getAdminJson<MeshSummary>(options.admin, '/api/summary');
  const services = selectServices(summary, options);
  if (services === undefined) {
    io.err(`mesh-sidecar stat: no service named ${JSON.stringify(options.name)}${options.direction ? ` (${options.direction})` : ''}; the sidecar has: ${summary.services.map(qualifiedName).join(', ') || '(none)'}\n`);
    return 1;
  }
  if (options.output === 'json') {
    io.out(`${JSON.stringify({ windowMs: summary.windowMs, coveredMs: summary.coveredMs, services }, null, 2)}\n`);
    return 0;
  }
  if (services.length === 0) {
    io.err('No traffic found.\n');
    return 0;
  }
  const wide = options.output === 'wide';
  const header = ['NAME', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'RETRIES', 'BREAKER', ...(wide ? ['BUDGET', 'FAULTS', 'LIMITED', 'ENDPOINTS', 'EJECTED'] : [])];
  const rows = services.map((s) => [
    qualifiedName(s),
    formatSuccess(s.successRate),
    formatRps(s.rps),
    formatLatency(s.latencyMs.p50),
    formatLatency(s.latencyMs.p95),
    formatLatency(s.latencyMs.p99),
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

/** The services to show; undefined when a name was asked for and none has it. */
export function selectServices(summary: MeshSummary, options: { name?: string; direction?: Direction }): ServiceSummary[] | undefined {
  const services = summary.services.filter((s) => (options.direction === undefined || s.direction === options.direction) && (options.name === undefined || nameMatches(s, options.name)));
  return options.name !== undefined && services.length === 0 ? undefined : services;
}

function perSecond(rate: number): string {
  return `${rate.toFixed(1)}/s`;
}

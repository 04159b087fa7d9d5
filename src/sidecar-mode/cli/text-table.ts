import type { TrafficSummary } from '../../admin/mesh-summary.js';

/**
 * Aligned columns as `linkerd viz` prints them (Go's tabwriter, padding 3): names left-aligned,
 * figures right-aligned, so a column of rates or percentiles reads down.
 */
export type Align = 'left' | 'right';

export function formatTable(header: string[], rows: string[][], align: Align[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (align[i] === 'right' ? cell.padStart(widths[i]!) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** A success rate as linkerd prints it: `91.91%`, or `-` without requests. */
export function formatSuccess(rate: number | null): string {
  return rate === null ? '-' : `${(rate * 100).toFixed(2)}%`;
}

export function formatRps(rps: number): string {
  return `${rps.toFixed(1)}rps`;
}

/** Whole milliseconds, as linkerd prints them, with a tenth below 10 ms where that matters. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10 ? `${Number(ms.toFixed(1))}ms` : `${Math.round(ms)}ms`;
}

/** SUCCESS, RPS and LATENCY_P50/P95/P99, as stat and routes print them. */
export const TRAFFIC_COLUMNS = ['SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99'];

export function trafficCells(traffic: TrafficSummary): string[] {
  return [formatSuccess(traffic.successRate), formatRps(traffic.rps), formatLatency(traffic.latencyMs.p50), formatLatency(traffic.latencyMs.p95), formatLatency(traffic.latencyMs.p99)];
}

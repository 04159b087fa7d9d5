/**
 * `mesh-sidecar top`: linkerd viz top's table, built from the tap — per source, destination, method
 * and path (query left off), how many requests, the best, worst and last latency and the success
 * rate since top started, busiest first. On a terminal it is redrawn in place every second; into a
 * pipe or a file it is printed once, at the end.
 */
import type { TapEvent } from '../../admin/tap-bus.js';
import { UNAUTHENTICATED } from '../../admin/mesh-summary.js';
import type { TapFilter } from '../../admin/tap-filter.js';
import type { HostPort } from '../../config/listen-address.js';
import type { Output } from '../cli-args.js';
import type { CommandIo } from './command-io.js';
import { runTapSession } from './tap-session.js';
import { formatLatency, formatSuccess, formatTable, type Align } from './text-table.js';

export interface TopOptions {
  admin: HostPort;
  output: Output;
  filter: TapFilter;
  rows: number;
  durationMs?: number;
  maxRps?: number;
}

export interface TopRow {
  source: string;
  destination: string;
  method: string;
  path: string;
  direction: string;
  route: string;
  count: number;
  successes: number;
  bestMs: number;
  worstMs: number;
  lastMs: number;
}

const REDRAW_MS = 1_000;

export async function topCommand(options: TopOptions, io: CommandIo): Promise<number> {
  const rows = new Map<string, TopRow>();
  const render = () => renderTop([...rows.values()], options);
  let drawn = 0;
  const redraw = () => {
    const lines = render();
    io.out(`${drawn > 0 ? `\x1b[${drawn}A\r` : ''}\x1b[J${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const timer = io.isTTY ? setInterval(redraw, REDRAW_MS) : undefined;
  return runTapSession(
    options,
    io,
    (message) => {
      if (message.type === 'request') add(rows, message);
    },
    () => {
      if (timer) clearInterval(timer);
      if (options.output === 'json') io.out(`${JSON.stringify(sortRows([...rows.values()]).slice(0, options.rows), null, 2)}\n`);
      else if (io.isTTY) redraw();
      else io.out(`${render().join('\n')}\n`);
    },
  );
}

function add(rows: Map<string, TopRow>, event: TapEvent): void {
  const source = event.clientId ?? (event.direction === 'inbound' ? UNAUTHENTICATED : '-');
  const path = event.path.split('?')[0]!;
  const key = `${source}\u0000${event.authority}\u0000${event.method}\u0000${path}`;
  const row = rows.get(key);
  const success = event.classification === 'success' ? 1 : 0;
  if (row === undefined) {
    rows.set(key, { source, destination: event.authority, method: event.method, path, direction: event.direction, route: event.route, count: 1, successes: success, bestMs: event.latencyMs, worstMs: event.latencyMs, lastMs: event.latencyMs });
    return;
  }
  row.count++;
  row.successes += success;
  row.bestMs = Math.min(row.bestMs, event.latencyMs);
  row.worstMs = Math.max(row.worstMs, event.latencyMs);
  row.lastMs = event.latencyMs;
}

function sortRows(rows: TopRow[]): TopRow[] {
  return rows.sort((a, b) => b.count - a.count || a.destination.localeCompare(b.destination) || a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

export function renderTop(all: TopRow[], options: { rows: number; output: Output }): string[] {
  if (all.length === 0) return ['(no requests yet)'];
  const wide = options.output === 'wide';
  const header = ['Source', 'Destination', 'Method', 'Path', ...(wide ? ['Direction', 'Route'] : []), 'Count', 'Best', 'Worst', 'Last', 'Success Rate'];
  const rows = sortRows(all)
    .slice(0, options.rows)
    .map((r) => [
      r.source,
      r.destination,
      r.method,
      r.path,
      ...(wide ? [r.direction, r.route] : []),
      String(r.count),
      formatLatency(r.bestMs),
      formatLatency(r.worstMs),
      formatLatency(r.lastMs),
      formatSuccess(r.successes / r.count),
    ]);
  const firstFigure = wide ? 6 : 4;
  const align: Align[] = header.map((_, i) => (i < firstFigure ? 'left' : 'right'));
  return formatTable(header, rows, align);
}

/**
 * `mesh-sidecar tap`: one request as linkerd viz tap prints it — `req` (method, authority, path),
 * `rsp` (status, latency to the response headers) and `end` (gRPC status or the error, attempts) —
 * on three lines that share an id. -o wide adds the route and service, -o json prints each event as
 * one JSON object a line. Events the sidecar skipped (over the rate, or while this end was slow) are
 * reported on stderr, so stdout stays one shape.
 */
import type { TapEvent } from '../../admin/tap-bus.js';
import type { TapFilter } from '../../admin/tap-filter.js';
import type { HostPort } from '../../config/listen-address.js';
import type { Output } from '../cli-args.js';
import type { TapMessage } from './admin-client.js';
import type { CommandIo } from './command-io.js';
import { runTapSession } from './tap-session.js';

export interface TapOptions {
  admin: HostPort;
  output: Output;
  filter: TapFilter;
  count?: number;
  durationMs?: number;
  maxRps?: number;
}

export async function tapCommand(options: TapOptions, io: CommandIo): Promise<number> {
  let seen = 0;
  return runTapSession(options, io, (message, stop) => {
    if (message.type !== 'request') return;
    io.out(options.output === 'json' ? `${JSON.stringify(message)}\n` : tapLines(message, options.output === 'wide'));
    seen++;
    if (options.count !== undefined && seen >= options.count) stop();
  });
}

/** The three lines of one request, as linkerd viz tap prints them. */
export function tapLines(event: TapEvent, wide: boolean): string {
  const who = `id=${event.id} proxy=${event.direction === 'inbound' ? 'in' : 'out'} src=${event.clientId ?? '-'} dst=${event.endpoint ?? '-'} tls=${event.tls ?? '-'}`;
  const extra = wide ? ` route=${value(event.route)} service=${value(event.service)}` : '';
  const lines = [`req ${who} :method=${event.method} :authority=${value(event.authority)} :path=${value(event.path)}${extra}`];
  if (event.statusCode !== null) lines.push(`rsp ${who} :status=${event.statusCode} latency=${Math.round(event.latencyMs * 1000)}µs${extra}`);
  const outcome = event.error !== null ? `error=${event.error}` : event.grpcStatus !== null ? `grpc-status=${event.grpcStatus}` : `classification=${event.classification}`;
  lines.push(`end ${who} ${outcome} attempts=${event.attempts}${event.error !== null ? ` latency=${Math.round(event.latencyMs * 1000)}µs` : ''}${extra}`);
  return `${lines.join('\n')}\n`;
}

/** A value as is, or quoted when it has spaces or quotes in it. */
function value(text: string): string {
  return /[\s"]/.test(text) ? JSON.stringify(text) : text;
}

export type { TapMessage };

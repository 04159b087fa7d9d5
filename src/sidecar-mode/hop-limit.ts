/**
 * A request loop between sidecars (a service whose endpoint is another sidecar's outbound port,
 * which sends it back) would multiply until sockets run out. Every sidecar counts itself into
 * `x-meshwork-hops` as it forwards a request, and refuses one that has already passed `maxHops`
 * of them with 508 Loop Detected (RFC 5842), as Via and Max-Forwards do for HTTP proxies.
 */
import type { ProxyFailure } from './proxy-errors.js';
import { HOPS_HEADER, rawHeader } from './proxy-headers.js';

/** The hop count to send on, or why the request is refused. */
export function nextHop(req: { httpVersionMajor: number; rawHeaders: string[]; headers: Record<string, unknown> }, maxHops: number): number | ProxyFailure {
  const value = req.httpVersionMajor === 2 ? req.headers[HOPS_HEADER] : rawHeader(req.rawHeaders, HOPS_HEADER);
  if (value === undefined) return 1;
  // Only a sidecar writes this header, always as one decimal number; anything else is forged.
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value) || repeated(req.rawHeaders)) {
    return { status: 400, code: 'INVALID_REQUEST', message: `${HOPS_HEADER} must be one whole number, got ${JSON.stringify(value)}` };
  }
  const hops = Number(value);
  if (hops >= maxHops) {
    return { status: 508, code: 'LOOP_DETECTED', message: `the request has already passed ${hops} sidecars (${HOPS_HEADER}), the limit is ${maxHops}: a routing loop?` };
  }
  return hops + 1;
}

function repeated(raw: readonly string[]): boolean {
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === HOPS_HEADER.length && raw[i]!.toLowerCase() === HOPS_HEADER) seen++;
  return seen > 1;
}

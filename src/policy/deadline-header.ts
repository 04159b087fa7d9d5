/**
 * The deadline that travels with a request between hops, in the `x-meshwork-deadline-ms` header:
 * the milliseconds the caller has left, as a whole number. Relative rather than absolute (Linkerd 1's
 * l5d-ctx-deadline carried timestamps) so that clock skew between hosts cannot shorten or stretch
 * it; the time spent on the wire is the small price, and it only ever makes a deadline generous.
 */
import type { MeshRequest } from '../http/http-types.js';
import { headerValue } from '../http/header-value.js';

export const DEADLINE_HEADER = 'x-meshwork-deadline-ms';

/** The remaining ms a request's header grants, or undefined when absent or malformed. */
export function readDeadlineHeader(headers: MeshRequest['headers']): number | undefined {
  const value = headerValue(headers, DEADLINE_HEADER);
  if (value === undefined || !/^\s*\d{1,12}\s*$/.test(value)) return undefined;
  return Number(value);
}

/** A copy of the request whose deadline header says `remainingMs` (replacing any it had). */
export function withDeadlineHeader(req: MeshRequest, remainingMs: number): MeshRequest {
  const value = String(Math.max(0, Math.floor(remainingMs)));
  const headers = req.headers;
  if (headers == null) return { ...req, headers: { [DEADLINE_HEADER]: value } };
  if (Array.isArray(headers)) {
    const next: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() !== DEADLINE_HEADER) next.push(String(headers[i]), String(headers[i + 1]));
    }
    next.push(DEADLINE_HEADER, value);
    return { ...req, headers: next };
  }
  const next: Record<string, string | string[]> = {};
  const entries: Iterable<[string, unknown]> =
    typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && headers.constructor !== Object
      ? (headers as Iterable<[string, unknown]>)
      : Object.entries(headers);
  for (const [name, v] of entries) {
    if (v === undefined || name.toLowerCase() === DEADLINE_HEADER) continue;
    next[name] = Array.isArray(v) ? v.map(String) : String(v);
  }
  next[DEADLINE_HEADER] = value;
  return { ...req, headers: next };
}

/**
 * The deadline that travels with a request between hops, in the `x-meshwork-deadline-ms` header:
 * the milliseconds the caller has left, as a whole number. Relative rather than absolute (Linkerd 1's
 * l5d-ctx-deadline carried timestamps) so that clock skew between hosts cannot shorten or stretch
 * it; the time spent on the wire is the small price, and it only ever makes a deadline generous.
 */
import type { MeshRequest } from '../http/http-types.js';
import { headerValue, withHeader } from '../http/header-shapes.js';

export const DEADLINE_HEADER = 'x-meshwork-deadline-ms';

/** The remaining ms a request's header grants, or undefined when absent or malformed. */
export function readDeadlineHeader(headers: MeshRequest['headers']): number | undefined {
  const value = headerValue(headers, DEADLINE_HEADER);
  if (value === undefined || !/^\s*\d{1,12}\s*$/.test(value)) return undefined;
  return Number(value);
}

/** A copy of the request whose deadline header says `remainingMs` (replacing any it had). */
export function withDeadlineHeader(req: MeshRequest, remainingMs: number): MeshRequest {
  return { ...req, headers: withHeader(req.headers, DEADLINE_HEADER, String(Math.max(0, Math.floor(remainingMs)))) };
}

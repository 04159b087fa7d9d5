/**
 * One header from any of the shapes undici accepts for request headers: a record (what code and
 * the sidecar pass), a flat [name, value, ...] list, or an iterable of pairs (fetch's Headers).
 * Names are case-insensitive; `name` must be given in lower case. Several values are joined with
 * ", ", as RFC 9110 §5.3 allows.
 *
 * This runs several times per request (deadline, trace context, routes, gRPC detection) and the
 * header it looks for is usually absent, so a name is lower-cased only when its length matches.
 */
import type { HttpHeaders } from './http-types.js';

export function headerValue(headers: HttpHeaders | Record<string, unknown>, name: string): string | undefined {
  if (headers == null) return undefined;
  const length = name.length;
  if (Array.isArray(headers)) {
    let found: string | undefined;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const key = String(headers[i]);
      if (key.length === length && key.toLowerCase() === name) found = found === undefined ? String(headers[i + 1]) : `${found}, ${String(headers[i + 1])}`;
    }
    return found;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && headers.constructor !== Object) {
    let found: string | undefined;
    for (const [key, value] of headers as Iterable<[string, string | string[] | undefined]>) {
      if (value === undefined || key.length !== length || key.toLowerCase() !== name) continue;
      const text = Array.isArray(value) ? value.join(', ') : value;
      found = found === undefined ? text : `${found}, ${text}`;
    }
    return found;
  }
  const record = headers as Record<string, unknown>;
  let value = record[name];
  if (value === undefined) {
    for (const key in record) if (key.length === length && key !== name && key.toLowerCase() === name) value = record[key];
  }
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

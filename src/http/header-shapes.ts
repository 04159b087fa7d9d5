/**
 * The shapes undici takes headers in — a record (what code and the sidecar's HTTP/2 side pass), a
 * flat [name, value, ...] list (the sidecar's HTTP/1.1 side, undici's raw head), or an iterable of
 * pairs (fetch's Headers) — read and written in one place. Names are case-insensitive; the names
 * given to these functions are lower case.
 */
import type { Dispatcher } from 'undici';

/** Request headers in any shape undici takes. */
export type HttpHeaders = Dispatcher.DispatchOptions['headers'];

/**
 * One header's value; several values are joined with ", ", as RFC 9110 §5.3 allows. This runs
 * several times per request (deadline, trace context, routes, gRPC detection) and the header it
 * looks for is usually absent, so a name is lower-cased only when its length matches.
 */
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

export type HeaderRecord = Record<string, string | string[]>;

/** Headers of any shape as a record with lower-case names, repeated names as arrays; undefined for none. */
export function headerRecord(headers: HttpHeaders | Record<string, unknown>): HeaderRecord | undefined {
  if (headers == null) return undefined;
  const record: HeaderRecord = {};
  const add = (rawName: string, value: unknown) => {
    if (value === undefined || value === null) return;
    const name = rawName.toLowerCase();
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    const prior = record[name];
    if (prior === undefined) record[name] = values.length === 1 ? values[0]! : values;
    else record[name] = [...(Array.isArray(prior) ? prior : [prior]), ...values];
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && headers.constructor !== Object) {
    for (const [name, value] of headers as Iterable<[string, unknown]>) add(name, value);
  } else {
    for (const name in headers) add(name, (headers as Record<string, unknown>)[name]);
  }
  return record;
}

/** A copy of `headers` with `name` set to `value`, replacing any value it had: a flat list stays one. */
export function withHeader(headers: HttpHeaders | Record<string, unknown>, name: string, value: string): HeaderRecord | string[] {
  if (Array.isArray(headers)) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const key = String(headers[i]);
      if (key.length === name.length && key.toLowerCase() === name) continue;
      out.push(key, String(headers[i + 1]));
    }
    out.push(name, value);
    return out;
  }
  const record = headerRecord(headers) ?? {};
  record[name] = value;
  return record;
}

/** undici's flat [name, value, ...] list (Buffers or strings) as an object: lower-case names, repeats as arrays. */
export function parseRawHeaders(raw: readonly (string | Buffer)[]): HeaderRecord {
  const headers: HeaderRecord = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString().toLowerCase();
    const value = raw[i + 1]!.toString('latin1' as never);
    const prior = headers[name];
    if (prior === undefined) headers[name] = value;
    else if (Array.isArray(prior)) prior.push(value);
    else headers[name] = [prior, value];
  }
  return headers;
}

/** A record as a flat [name, value, ...] list. */
export function flattenHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const raw: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) raw.push(name, item);
    else raw.push(name, value);
  }
  return raw;
}

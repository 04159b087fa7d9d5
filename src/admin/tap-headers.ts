/**
 * The headers a tap event shows: lower-cased names, repeated fields joined, credentials left out.
 * `authorization`, `proxy-authorization`, `cookie` and `set-cookie` are never shown, nor any header
 * the config lists (`spec.admin.tap.redactHeaders`: API keys, session tokens of the app's own);
 * dropping them whole, name and all, is the only way a tap can never leak them. Values are cut at
 * 1 KiB and at most 64 headers are copied, so one request cannot make an event of any size.
 */
import type { HttpHeaders } from '../http/http-types.js';

export const ALWAYS_REDACTED = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'] as const;

const MAX_HEADERS = 64;
const MAX_VALUE_CHARS = 1024;

export type TapHeaders = Record<string, string>;

/** The header names never to show: the built-in ones plus `configured`, lower-cased. */
export function redactedNames(configured: readonly string[] = []): ReadonlySet<string> {
  return new Set([...ALWAYS_REDACTED, ...configured.map((name) => name.toLowerCase())]);
}

/** A request's headers, in any of the shapes undici accepts. */
export function requestHeaders(headers: HttpHeaders, redacted: ReadonlySet<string>): TapHeaders {
  const shown = new HeaderCopy(redacted);
  if (headers === null || headers === undefined) return shown.fields;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) shown.add(String(headers[i]), headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, string | string[] | undefined]>) shown.add(name, value);
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) shown.add(name, value);
  }
  return shown.fields;
}

/** A response's headers as they arrived: a flat [name, value, ...] list. */
export function responseHeaders(raw: readonly (string | Buffer)[], redacted: ReadonlySet<string>): TapHeaders {
  const shown = new HeaderCopy(redacted);
  for (let i = 0; i + 1 < raw.length; i += 2) shown.add(String(raw[i]), String(raw[i + 1]));
  return shown.fields;
}

class HeaderCopy {
  readonly fields: TapHeaders = {};
  #count = 0;

  constructor(readonly redacted: ReadonlySet<string>) {}

  add(rawName: string, value: unknown): void {
    if (value === undefined || value === null || this.#count >= MAX_HEADERS) return;
    const name = rawName.toLowerCase();
    if (this.redacted.has(name)) return;
    const text = Array.isArray(value) ? value.map(String).join(', ') : String(value);
    const previous = this.fields[name];
    if (previous === undefined) this.#count++;
    const joined = previous === undefined ? text : `${previous}, ${text}`;
    this.fields[name] = joined.length > MAX_VALUE_CHARS ? `${joined.slice(0, MAX_VALUE_CHARS)}…` : joined;
  }
}

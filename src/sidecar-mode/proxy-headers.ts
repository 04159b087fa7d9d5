/**
 * What a proxy must do to headers (RFC 9110 §7.6.1): drop the hop-by-hop ones — Connection, every
 * field Connection names, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade and the
 * proxy credentials — in both directions, and say where the request came from in X-Forwarded-*.
 * `TE: trailers` is the exception: gRPC needs it end to end to promise that trailers are understood.
 * HTTP/2 pseudo-headers (`:path`, `:authority`, ...) are not headers on the next hop either.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { DEADLINE_HEADER } from '../policy/deadline-header.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'trailer', 'http2-settings', 'expect']);

export type HeaderMap = Record<string, string | string[]>;

function connectionNamed(headers: IncomingHttpHeaders | HeaderMap): Set<string> | undefined {
  const connection = headers.connection;
  if (connection === undefined) return undefined;
  const named = new Set<string>();
  for (const value of Array.isArray(connection) ? connection : [connection]) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) named.add(name);
    }
  }
  return named;
}

/** The end-to-end part of a set of headers, with lower-case names. */
export function endToEndHeaders(headers: IncomingHttpHeaders | HeaderMap): HeaderMap {
  const named = connectionNamed(headers);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  const te = headers.te;
  if (typeof te === 'string' && TE_TRAILERS.test(te)) out.te = 'trailers';
  return out;
}

/** Adds X-Forwarded-For/-Proto/-Host for a request that came from `clientAddress` for `authority`. */
export function addForwardedHeaders(headers: HeaderMap, clientAddress: string | undefined, authority: string): void {
  if (clientAddress) {
    const prior = headers['x-forwarded-for'];
    const chain = Array.isArray(prior) ? prior.join(', ') : prior;
    headers['x-forwarded-for'] = chain ? `${chain}, ${clientAddress}` : clientAddress;
  }
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-host'] ??= authority;
}

/** The lengths of the names that need a closer look (hop-by-hop ones, and Content-Length). */
const SPECIAL_LENGTHS = new Set([...HOP_BY_HOP, 'content-length'].map((name) => name.length));

/**
 * The end-to-end part of a response head given as undici's flat [name, value, ...] list, as strings
 * for Node's `writeHead` (names as the peer spelled them), and whether it carries a Content-Length
 * (which decides the framing). Only names whose length could make them special are lower-cased.
 */
export function endToEndRawHeaders(raw: readonly (string | Buffer)[]): { fields: string[]; contentLength: boolean } {
  const fields: string[] = [];
  let named: Set<string> | undefined;
  let contentLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1' as never);
    if (SPECIAL_LENGTHS.has(name.length) || name.charCodeAt(0) === 58 /* ':' */) {
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        named ??= new Set();
        for (const token of raw[i + 1]!.toString().split(',')) named.add(token.trim().toLowerCase());
        continue;
      }
      if (HOP_BY_HOP.has(lower) || lower.charCodeAt(0) === 58) continue;
      if (lower === 'content-length') contentLength = true;
    }
    fields.push(name, raw[i + 1]!.toString('latin1' as never));
  }
  if (named === undefined) return { fields, contentLength };
  // Fields the Connection header names are hop-by-hop too, wherever they stood in the head.
  const kept: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const lower = fields[i]!.toLowerCase();
    if (named.has(lower)) {
      if (lower === 'content-length') contentLength = false;
      continue;
    }
    kept.push(fields[i]!, fields[i + 1]!);
  }
  return { fields: kept, contentLength };
}

/** One header of an HTTP/1.1 request from its raw list (as the client spelled the names); the first if repeated. */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  const length = lowerName.length;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === length && (name === lowerName || name.toLowerCase() === lowerName)) return raw[i + 1];
  }
  return undefined;
}

/** Who is forwarding a request, for the headers a proxy adds. */
export interface ForwardedBy {
  /** The authority the caller addressed: Host when the request has none, and X-Forwarded-Host. */
  authority: string;
  /** The caller's address, appended to X-Forwarded-For. */
  clientAddress: string | undefined;
  /** The hop count to send on in x-meshwork-hops (hop-limit.ts), replacing the one that came in. */
  hops: number;
  /** Inbound: the caller's verified identity replaces any `x-meshwork-client-id` it sent. */
  clientIdHeader?: { name: string; value: string | undefined };
  /**
   * At the edge of the mesh (the gateway) the caller is not trusted: its Host and X-Forwarded-* are
   * replaced, not extended, X-Forwarded-Proto says how it connected, and a deadline it sent in the
   * mesh's own header is dropped (a mesh hop's deadline is the mesh's to set).
   */
  edgeProto?: 'http' | 'https';
}

/**
 * The headers an HTTP/1.1 request is sent on with, built from its raw list (as the client spelled
 * the names) without Node's header object: what endToEndHeaders keeps, one Host (a second would be
 * ambiguous), X-Forwarded-For appended to, X-Forwarded-Proto/-Host added unless present, and the
 * caller's identity set inbound. Only names whose length could make them special are lower-cased.
 */
export function forwardedRequestHeaders(raw: readonly string[], by: ForwardedBy): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const token of raw[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  const identity = by.clientIdHeader?.name;
  const edge = by.edgeProto !== undefined;
  let host = false;
  let chain: string | undefined;
  let proto = false;
  let forwardedHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (REQUEST_SPECIAL_LENGTHS.has(name.length) || named !== undefined) {
      const lower = name.toLowerCase();
      if (lower === 'te') {
        if (TE_TRAILERS.test(value)) out.push('te', 'trailers');
        continue;
      }
      if (HOP_BY_HOP.has(lower) || named?.has(lower) || lower === identity || lower === HOPS_HEADER || (edge && lower === DEADLINE_HEADER)) continue;
      if (lower === 'host') {
        if (host || edge) continue;
        host = true;
      } else if (lower === 'x-forwarded-for') {
        if (!edge) chain = chain === undefined ? value : `${chain}, ${value}`;
        continue;
      } else if (lower === 'x-forwarded-proto') {
        if (edge) continue;
        proto = true;
      } else if (lower === 'x-forwarded-host') {
        if (edge) continue;
        forwardedHost = true;
      }
    }
    out.push(name, value);
  }
  if (!host) out.push('host', by.authority);
  const forwardedFor = by.clientAddress === undefined ? chain : chain === undefined ? by.clientAddress : `${chain}, ${by.clientAddress}`;
  if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
  if (!proto) out.push('x-forwarded-proto', by.edgeProto ?? 'http');
  if (!forwardedHost) out.push('x-forwarded-host', by.authority);
  out.push(HOPS_HEADER, String(by.hops));
  if (identity !== undefined && by.clientIdHeader!.value !== undefined) out.push(identity, by.clientIdHeader!.value);
  return out;
}

const TE_TRAILERS = /(^|,)\s*trailers\s*(;|,|$)/i;
/** How many sidecars a request has passed (hop-limit.ts). */
export const HOPS_HEADER = 'x-meshwork-hops';
/** The caller's verified SPIFFE ID, given to the app; a value the caller sent is always replaced. */
export const CLIENT_ID_HEADER = 'x-meshwork-client-id';
// The lengths of every name the forwarding rewrites: others are copied without a lower-casing.
const REQUEST_SPECIAL_LENGTHS = new Set([...HOP_BY_HOP, 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', CLIENT_ID_HEADER, DEADLINE_HEADER, HOPS_HEADER].map((name) => name.length));

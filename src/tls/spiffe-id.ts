/**
 * SPIFFE IDs (spiffe://<trust-domain>/<path>) are the mesh's notion of "who is calling". They are
 * validated strictly, by the SPIFFE ID spec, because they end up in certificates and authorization
 * rules where a lenient parse would let two spellings of one identity compare unequal (or two
 * identities compare equal).
 */
import { MeshError } from '../core/errors.js';

export interface SpiffeId {
  trustDomain: string;
  /** '' for the trust domain's own ID, otherwise '/seg/seg...'. */
  path: string;
  toString(): string;
}

const PREFIX = 'spiffe://';
// The spec's SHOULD limits; past them other SPIFFE implementations refuse the ID.
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN_CHARS = 255;
const TRUST_DOMAIN_CHAR = /^[a-z0-9._-]$/;
const PATH_CHAR = /^[A-Za-z0-9._-]$/;

class ParsedSpiffeId implements SpiffeId {
  constructor(readonly trustDomain: string, readonly path: string) {}
  toString(): string {
    return `${PREFIX}${this.trustDomain}${this.path}`;
  }
}

function describeChar(c: string): string {
  return /^[\x21-\x7e]$/.test(c) ? `'${c}'` : `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The reason `text` is not a SPIFFE ID, or the parsed ID. */
function parse(text: string): SpiffeId | string {
  if (typeof text !== 'string' || text === '') return 'it is empty';
  if (!text.startsWith(PREFIX)) {
    return text.toLowerCase().startsWith(PREFIX) ? 'the scheme must be lower-case "spiffe://"' : 'it must start with "spiffe://"';
  }
  if (Buffer.byteLength(text) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  const rest = text.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (trustDomain === '') return 'the trust domain is missing';
  if (trustDomain.length > MAX_TRUST_DOMAIN_CHARS) return `the trust domain is longer than ${MAX_TRUST_DOMAIN_CHARS} characters`;
  for (const c of trustDomain) {
    if (TRUST_DOMAIN_CHAR.test(c)) continue;
    if (c === ':') return 'the trust domain must not have a port';
    if (c === '@') return 'the trust domain must not have user info';
    if (c === '?' || c === '#') return 'a SPIFFE ID has no query or fragment';
    if (/^[A-Z]$/.test(c)) return 'the trust domain must be lower-case';
    return `the trust domain may only contain a-z, 0-9, '.', '-' and '_' (found ${describeChar(c)})`;
  }
  if (path === '') return new ParsedSpiffeId(trustDomain, '');
  const segments = path.slice(1).split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '') return i === segments.length - 1 ? 'the path must not end with "/"' : 'the path has an empty segment ("//")';
    if (segment === '.' || segment === '..') return `the path must not contain "${segment}" segments`;
    for (const c of segment) {
      if (PATH_CHAR.test(c)) continue;
      if (c === '?' || c === '#') return 'a SPIFFE ID has no query or fragment';
      if (c === '%') return 'the path must not be percent-encoded';
      return `the path may only contain A-Z, a-z, 0-9, '.', '-' and '_' (found ${describeChar(c)})`;
    }
  }
  return new ParsedSpiffeId(trustDomain, path);
}

export function parseSpiffeId(text: string): SpiffeId {
  const result = parse(text);
  if (typeof result === 'string') {
    throw new MeshError('INVALID_OPTIONS', `invalid SPIFFE ID ${JSON.stringify(text)}: ${result} (expected e.g. spiffe://cluster.local/ns/default/sa/web)`);
  }
  return result;
}

export function isSpiffeId(text: string): boolean {
  return typeof parse(text) !== 'string';
}

/**
 * A pattern is a SPIFFE ID, or one whose last path segment is exactly '*'. The '*' stands for one
 * or more trailing segments, so spiffe://td/* is "anyone in td" and spiffe://td/ns/prod/* is
 * "anyone in namespace prod"; it is never a partial-segment glob, so 'sa/web*' is not a pattern.
 */
function parsePattern(pattern: string): { trustDomain: string; prefix: string; wildcard: boolean } | undefined {
  if (typeof pattern !== 'string') return undefined;
  const wildcard = pattern.endsWith('/*');
  const id = parse(wildcard ? pattern.slice(0, -2) : pattern);
  if (typeof id === 'string') return undefined;
  return { trustDomain: id.trustDomain, prefix: id.path, wildcard };
}

/** Whether `pattern` is something spiffeIdMatches accepts; for validating authorization config up front. */
export function isSpiffeIdPattern(pattern: string): boolean {
  return parsePattern(pattern) !== undefined;
}

/** Pattern matching for authorization: exact id, or a trailing '*' segment wildcard e.g. spiffe://td/ns/prod/sa/*, or spiffe://td/* (whole trust domain). */
export function spiffeIdMatches(pattern: string, id: string): boolean {
  // Both sides are parsed, and anything malformed matches nothing: authorization fails closed.
  const p = parsePattern(pattern);
  const parsed = parse(id);
  if (p === undefined || typeof parsed === 'string') return false;
  if (parsed.trustDomain !== p.trustDomain) return false;
  if (!p.wildcard) return parsed.path === p.prefix;
  // Comparing with the trailing '/' keeps spiffe://td/ns/prod/* from matching .../ns/production/...
  return parsed.path.startsWith(`${p.prefix}/`);
}

/**
 * Node prints subjectaltname as 'DNS:a, URI:b, IP Address:c', and JSON-quotes a value that contains
 * characters which would make that ambiguous (',', '"', control characters), so values are read
 * token by token rather than by splitting on ', '. Undefined when the text is malformed.
 */
function subjectAltNameEntries(text: string): { type: string; value: string }[] | undefined {
  const entries: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon === -1) return undefined;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) return undefined;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        return undefined;
      }
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end === -1) end = text.length;
      value = text.slice(colon + 1, end);
    }
    entries.push({ type, value });
    if (end === text.length) break;
    if (!text.startsWith(', ', end)) return undefined;
    i = end + 2;
  }
  return entries;
}

/** The SPIFFE ID in a peer certificate as Node gives it (tls.PeerCertificate.subjectaltname, e.g. 'URI:spiffe://..., DNS:x'); undefined if none or more than one. */
export function spiffeIdOfSubjectAltName(subjectaltname: string | undefined): string | undefined {
  if (typeof subjectaltname !== 'string' || subjectaltname === '') return undefined;
  const entries = subjectAltNameEntries(subjectaltname);
  if (entries === undefined) return undefined;
  // An X.509-SVID carries exactly one URI SAN; with several there is no telling which one is the
  // identity, so the certificate names none.
  const uris = entries.filter((e) => e.type === 'URI');
  if (uris.length !== 1) return undefined;
  const id = parse(uris[0]!.value);
  return typeof id === 'string' || id.path === '' ? undefined : id.toString();
}

/**
 * What the admin server's /config hides: credentials, not policies. An operator reads /config to see
 * who may call what (authorization rules, routes, header matches), so a field is judged by what it
 * holds, not by a name that looks secret (`spec.sidecar.authorization` is a policy):
 * - a field named like a credential (`password`, `token`, `secret`, `apiKey`, `privateKey`, ...);
 * - the value a header match expects of a header that carries credentials (`authorization`,
 *   `cookie`, `x-api-key`, `*-token`, ...); that the header is matched, and `present`, stay visible;
 * - anywhere, a string that is one: `Bearer ...` / `Basic ...` values, JWTs, PEM blocks (key
 *   material), URLs with a password in them.
 */
const REDACTED = '(redacted)';

const CREDENTIAL_FIELD = /password|passwd|passphrase|secret|token|api[-_]?key|private[-_]?key|credential/i;
const CREDENTIAL_HEADER = /authorization|authentication|cookie|token|secret|password|api[-_]?key|session/i;
/** Fields named after such a header, whose plain value is then the credential itself. */
const CREDENTIAL_HEADER_FIELD = /^(proxy-)?authorization$|^(set-)?cookie$/i;
const CREDENTIAL_VALUE = [
  /^\s*(bearer|basic|digest|negotiate|token)\s+\S/i,
  /\beyJ[\w-]{8,}\.[\w-]{8,}\./,
  /-----BEGIN [A-Z0-9 ]+-----/,
  /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i,
];

export function redactCredentials(value: unknown): unknown {
  if (typeof value === 'string') return CREDENTIAL_VALUE.some((pattern) => pattern.test(value)) ? REDACTED : value;
  if (Array.isArray(value)) return value.map(redactCredentials);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (CREDENTIAL_FIELD.test(key)) out[key] = REDACTED;
    else if (key === 'headers' && isObject(field)) out[key] = redactHeaderMatches(field);
    // `authorization: "Basic ..."` is a credential; `authorization: [rules]` is a policy.
    else if (CREDENTIAL_HEADER_FIELD.test(key) && (typeof field === 'string' || typeof field === 'number')) out[key] = REDACTED;
    else out[key] = redactCredentials(field);
  }
  return out;
}

/** `headers: { <name>: "value" | { exact, prefix, regex, present } }`, as request matches write them. */
function redactHeaderMatches(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, match] of Object.entries(headers)) {
    if (!CREDENTIAL_HEADER.test(name)) out[name] = redactCredentials(match);
    else if (typeof match === 'string') out[name] = REDACTED;
    else if (isObject(match)) out[name] = Object.fromEntries(Object.entries(match).map(([how, expected]) => [how, typeof expected === 'string' ? REDACTED : expected]));
    else out[name] = redactCredentials(match);
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

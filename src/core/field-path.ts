/**
 * A field path as errors print it: `retries.budget.ttl`, `endpoints[1]`; the empty path is the
 * options themselves. A key that is not a plain name (spaces, dots, quotes, nothing) is quoted,
 * `services["a b"]`, so the path says exactly which key is meant and where it ends.
 */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(options)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : !PLAIN_KEY.test(p) ? `[${JSON.stringify(p)}]` : i === 0 ? p : `.${p}`)).join('');
}

const PLAIN_KEY = /^[\w$-]+$/;

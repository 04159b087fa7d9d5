/** A field path as errors print it: `retries.budget.ttl`, `endpoints[1]`; the empty path is the options themselves. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(options)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

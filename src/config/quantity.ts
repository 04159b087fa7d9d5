/**
 * Kubernetes resource quantities, as Linkerd's `dstOverrides[].weight` uses them: `900m` is 0.9,
 * `1` is 1, `10k` is 10 000. Only the decimal suffixes a weight can sensibly carry are accepted.
 */
const SUFFIX: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9 };

export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)([numkMG]?)\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * SUFFIX[m[2]!]!;
}

/**
 * Sampling endpoints in proportion to their weights. Most endpoint sets have equal weights, and for
 * them sampling is one multiplication; a weighted set gets its cumulative weights computed once per
 * candidate list and a binary search per draw.
 */
import type { Random } from '../core/clock.js';
import type { Pickable } from './picker.js';

/** Cumulative weights of a list, or null when every weight is the same (uniform sampling is exact then). */
const cumulativeByList = new WeakMap<readonly Pickable[], Float64Array | null>();

export function cumulativeWeights(candidates: readonly Pickable[]): Float64Array | null {
  let cumulative = cumulativeByList.get(candidates);
  if (cumulative !== undefined) return cumulative;
  const first = candidates[0]?.weight;
  if (candidates.every((c) => c.weight === first)) {
    cumulative = null;
  } else {
    cumulative = new Float64Array(candidates.length);
    let running = 0;
    candidates.forEach((c, i) => (cumulative![i] = running += c.weight));
  }
  cumulativeByList.set(candidates, cumulative);
  return cumulative;
}

/** An index drawn with probability weight / total weight. */
export function sampleIndex(candidates: readonly Pickable[], random: Random): number {
  const cumulative = cumulativeWeights(candidates);
  if (cumulative === null) return Math.floor(random() * candidates.length);
  return indexAt(cumulative, random() * cumulative[cumulative.length - 1]!);
}

/** The first index whose cumulative weight is above `x`. */
function indexAt(cumulative: Float64Array, x: number): number {
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (cumulative[mid]! > x) high = mid;
    else low = mid + 1;
  }
  return low;
}

/**
 * An index drawn by weight from a fixed list of weights (a traffic split's destinations): one
 * random draw and a scan of the cumulative weights, which are few.
 */
export function weightedChoice(weights: readonly number[], random: Random): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  return () => {
    const x = random() * total;
    let i = 0;
    while (i < cumulative.length - 1 && x >= cumulative[i]!) i++;
    return i;
  };
}

/**
 * Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", 2001):
 * sample two endpoints at random and take the cheaper. It gets most of the benefit of comparing
 * every endpoint at O(1) cost, and its randomness avoids the herding that "always pick the global
 * minimum" causes when many clients share stale load information.
 *
 * Weights: each of the two is drawn in proportion to its weight (independently), and the cheaper
 * wins, a tie going to the first drawn. When the endpoints are equally fast an endpoint of share p
 * is picked with probability p² + p(1 − p) = p, its weight's share exactly; a slower one loses the
 * comparisons it is drawn into and gets less, which is the point of comparing loads. (Comparing
 * cost/weight instead would hand the heavier endpoint every comparison at low load.) Equal weights
 * keep the classic draw of two distinct endpoints.
 */
import type { Random } from '../core/clock.js';
import type { Picker } from './picker.js';
import { cumulativeWeights, sampleIndex } from './weighted-sample.js';

export function p2cPicker(random: Random): Picker {
  return {
    pick(candidates, cost) {
      const n = candidates.length;
      if (n === 1) return candidates[0]!;
      let i: number;
      let j: number;
      if (cumulativeWeights(candidates) === null) {
        i = Math.floor(random() * n);
        j = Math.floor(random() * (n - 1));
        if (j >= i) j++;
      } else {
        i = sampleIndex(candidates, random);
        j = sampleIndex(candidates, random);
        if (i === j) return candidates[i]!;
      }
      const a = candidates[i]!;
      const b = candidates[j]!;
      return cost(b) < cost(a) ? b : a;
    },
  };
}

/**
 * Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", 2001):
 * sample two distinct endpoints at random and take the cheaper. It gets most of the benefit of
 * comparing every endpoint at O(1) cost, and its randomness avoids the herding that "always pick the
 * global minimum" causes when many clients share stale load information.
 */
import type { Random } from '../core/clock.js';
import type { Picker } from './picker.js';

export function p2cPicker(random: Random): Picker {
  return {
    pick(candidates, cost) {
      const n = candidates.length;
      if (n === 1) return candidates[0]!;
      const i = Math.floor(random() * n);
      let j = Math.floor(random() * (n - 1));
      if (j >= i) j++;
      const a = candidates[i]!;
      const b = candidates[j]!;
      return cost(b) < cost(a) ? b : a;
    },
  };
}

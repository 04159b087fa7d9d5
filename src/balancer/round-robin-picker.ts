/**
 * Round robin: each eligible endpoint in turn, ignoring load. The baseline the other balancers are
 * measured against, and the right choice when every endpoint is identical and requests are uniform.
 */
import type { Picker } from './picker.js';

export function roundRobinPicker(): Picker {
  let next = 0;
  return {
    pick(candidates) {
      const chosen = candidates[next % candidates.length]!;
      next = (next + 1) % 1_000_000_007;
      return chosen;
    },
  };
}

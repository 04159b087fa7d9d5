/**
 * Random: an endpoint drawn in proportion to its weight, ignoring load (Envoy's and Istio's RANDOM).
 * No state at all, so it suits many clients of few endpoints where round robin's lockstep would not.
 */
import type { Random } from '../core/clock.js';
import type { Picker } from './picker.js';
import { sampleIndex } from './weighted-sample.js';

export function randomPicker(random: Random): Picker {
  return {
    pick: (candidates) => candidates[sampleIndex(candidates, random)]!,
  };
}

/**
 * Round robin: each eligible endpoint in turn, ignoring load. The baseline the other balancers are
 * measured against, and the right choice when every endpoint is identical and requests are uniform.
 *
 * Weighted sets use nginx's smooth weighted round robin: every pick adds each endpoint's weight to
 * its running score, takes the highest score and takes the total off it. Over any run of total-weight
 * picks each endpoint gets exactly its weight's share, interleaved (weights 1 and 3 give b a b b,
 * not a b b b). The scores belong to one candidate list; a new list (a discovery update, an ejection)
 * starts from zero.
 */
import type { Picker, Pickable } from './picker.js';
import { cumulativeWeights } from './weighted-sample.js';

export function roundRobinPicker(): Picker {
  let next = 0;
  const scoresByList = new WeakMap<readonly Pickable[], Float64Array>();
  return {
    pick(candidates) {
      if (cumulativeWeights(candidates) === null) {
        const chosen = candidates[next % candidates.length]!;
        next = (next + 1) % 1_000_000_007;
        return chosen;
      }
      let scores = scoresByList.get(candidates);
      if (scores === undefined) scoresByList.set(candidates, (scores = new Float64Array(candidates.length)));
      let best = 0;
      let total = 0;
      for (let i = 0; i < candidates.length; i++) {
        const weight = candidates[i]!.weight;
        total += weight;
        scores[i]! += weight;
        if (scores[i]! > scores[best]!) best = i;
      }
      scores[best]! -= total;
      return candidates[best]!;
    },
  };
}

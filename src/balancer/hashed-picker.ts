/**
 * What the consistent-hash pickers share: a structure (a ring, a Maglev table) built once per
 * candidate list and kept while the balancer keeps the list; a request's key hash looks its endpoint
 * up in it; a request without a key is placed at random by weight, as Envoy does.
 */
import type { Random } from '../core/clock.js';
import type { Pickable, Picker } from './picker.js';
import { sampleIndex } from './weighted-sample.js';

export function hashedPicker<T>(random: Random, build: (candidates: readonly Pickable[]) => T, lookup: (built: T, hash: number) => number): Picker {
  const built = new WeakMap<readonly Pickable[], T>();
  return {
    pick(candidates, _cost, hash) {
      if (candidates.length === 1) return candidates[0]!;
      if (hash === undefined) return candidates[sampleIndex(candidates, random)]!;
      let structure = built.get(candidates);
      if (structure === undefined) built.set(candidates, (structure = build(candidates)));
      return candidates[lookup(structure, hash)]!;
    },
  };
}

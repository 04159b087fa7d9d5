/**
 * Ring hash (Karger et al., "Consistent Hashing and Random Trees", 1997), Istio's
 * `consistentHash.ringHash`: every endpoint is hashed onto a ring at many points (`<key>_<n>`), in
 * proportion to its weight, the heaviest at `minimumRingSize` points, so the ring has at least that
 * many; a request's key goes to the first point at or after its own hash. When an endpoint leaves,
 * only the keys that sat on its points move (to the next point along); all others stay where they
 * were: with ten endpoints, a tenth of the keys move, the least any scheme can do
 * (benchmarks/RESULTS.md measures it). Envoy instead spreads a ring of about `minimumRingSize`
 * points over however many endpoints there are, so every endpoint's point count changes with the
 * set, and some keys move between endpoints that stayed.
 *
 * A request without a key (no such header, no cookie) is placed at random, by weight, as Envoy does.
 * The ring is built once per candidate list: the balancer keeps the same list while the set is
 * unchanged, and ejecting an endpoint makes a new list whose ring lacks exactly its points.
 */
import type { Random } from '../core/clock.js';
import { ENDPOINT_DEFAULTS } from '../core/policy.js';
import { hashString } from './hash-string.js';
import { hashedPicker } from './hashed-picker.js';
import type { Pickable, Picker } from './picker.js';

export interface RingHashOptions {
  /** Points on the ring at least; more points spread the load more evenly. Default 1024 (Envoy's). */
  minimumRingSize?: number;
}

/** Envoy's ceiling on the ring, which a very large endpoint set reaches with fewer points each. */
const MAXIMUM_RING_SIZE = 8 * 1024 * 1024;
/** Room for the owner's index below the hash in a packed point. */
const OWNER_SPACE = 2 ** 21;

interface Ring {
  /** Point hashes, ascending. */
  points: Uint32Array;
  /** The candidate index at each point. */
  owners: Uint32Array;
}

export function ringHashPicker(random: Random, options: RingHashOptions = {}): Picker {
  const minimumRingSize = options.minimumRingSize ?? ENDPOINT_DEFAULTS.consistentHash.minimumRingSize;
  return hashedPicker(random, (candidates) => buildRing(candidates, minimumRingSize), (ring, hash) => ring.owners[pointAtOrAfter(ring.points, hash)]!);
}

export function buildRing(candidates: readonly Pickable[], minimumRingSize: number): Ring {
  const heaviest = Math.max(...candidates.map((c) => c.weight));
  const totalShare = candidates.reduce((sum, c) => sum + c.weight / heaviest, 0);
  // Points per unit of the heaviest weight: a constant, not a share of a ring of fixed size, so an
  // endpoint's points do not change when others come or go (Envoy rescales, and moves more keys).
  const perHeaviest = Math.max(1, Math.min(minimumRingSize, Math.floor(MAXIMUM_RING_SIZE / totalShare)));
  const counts = candidates.map((c) => Math.max(1, Math.round((perHeaviest * c.weight) / heaviest)));
  const total = counts.reduce((sum, n) => sum + n, 0);
  // Each point packed as hash * 2^21 + owner in one float (53 bits exact), so one native sort orders them.
  const packed = new Float64Array(total);
  let at = 0;
  candidates.forEach((candidate, owner) => {
    for (let n = 0; n < counts[owner]!; n++) packed[at++] = hashString(`${candidate.key}_${n}`) * OWNER_SPACE + owner;
  });
  packed.sort();
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const value = packed[i]!;
    points[i] = Math.floor(value / OWNER_SPACE);
    owners[i] = value % OWNER_SPACE;
  }
  return { points, owners };
}

/** The index of the first point at or after `hash`, wrapping past the end to the first. */
function pointAtOrAfter(points: Uint32Array, hash: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (points[mid]! < hash) low = mid + 1;
    else high = mid;
  }
  return low === points.length ? 0 : low;
}

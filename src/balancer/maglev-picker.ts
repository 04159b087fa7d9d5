/**
 * Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
 * NSDI 2016), Istio's `consistentHash.maglev`: a lookup table of a prime size is filled by letting
 * each endpoint claim, in turn, the next free slot of its own permutation of the table (offset and
 * skip from two hashes of its key); a request's key picks the slot its hash falls in. Lookups are
 * one array read, and the load is spread more evenly than a ring's; the price is a little more
 * movement when the set changes (a few percent beyond the leaving endpoint's keys).
 *
 * Weights set how often an endpoint takes a turn, as in Envoy's weighted Maglev. Keyless requests
 * are placed at random by weight. A table belongs to one candidate list, like a ring.
 */
import type { Random } from '../core/clock.js';
import { ENDPOINT_DEFAULTS } from '../core/policy.js';
import { hashString } from './hash-string.js';
import { hashedPicker } from './hashed-picker.js';
import type { Pickable, Picker } from './picker.js';

export interface MaglevOptions {
  /** The lookup table's size; must be a prime well above the endpoint count. Default 65 537 (Envoy's). */
  tableSize?: number;
}

export function maglevPicker(random: Random, options: MaglevOptions = {}): Picker {
  const tableSize = options.tableSize ?? ENDPOINT_DEFAULTS.consistentHash.tableSize;
  if (!isPrime(tableSize)) throw new RangeError(`a Maglev table size must be a prime (such as 65537), got ${tableSize}`);
  return hashedPicker(random, (candidates) => buildTable(candidates, tableSize), (table, hash) => table[hash % tableSize]!);
}

export function buildTable(candidates: readonly Pickable[], size: number): Uint32Array {
  const EMPTY = 0xffffffff;
  const table = new Uint32Array(size).fill(EMPTY);
  const heaviest = Math.max(...candidates.map((c) => c.weight));
  // Turns are taken in key order, not list order, so every client fills the same table from the same set.
  const byKey = candidates.map((_, i) => i).sort((a, b) => (candidates[a]!.key < candidates[b]!.key ? -1 : 1));
  const entries = byKey.map((index) => candidates[index]!).map((c, i) => ({
    owner: byKey[i]!,
    offset: hashString(c.key, 0x9e3779b9) % size,
    skip: (hashString(c.key, 0x7f4a7c15) % (size - 1)) + 1,
    next: 0,
    share: c.weight / heaviest,
    credit: 0,
  }));
  let filled = 0;
  while (filled < size) {
    for (let turn = 0; turn < entries.length && filled < size; turn++) {
      const entry = entries[turn]!;
      // A lighter endpoint takes a turn only once its credit adds up to a whole one.
      entry.credit += entry.share;
      if (entry.credit < 1) continue;
      entry.credit -= 1;
      let slot = (entry.offset + entry.next * entry.skip) % size;
      while (table[slot] !== EMPTY) {
        entry.next++;
        slot = (entry.offset + entry.next * entry.skip) % size;
      }
      table[slot] = entry.owner;
      entry.next++;
      filled++;
    }
  }
  return table;
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

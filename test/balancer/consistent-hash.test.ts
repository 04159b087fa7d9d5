/**
 * Ring hash and Maglev: the same key goes to the same endpoint, every client builds the same
 * mapping from the same set, and when an endpoint leaves only its keys move.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/clock.js';
import { maglevPicker } from '../../src/balancer/maglev-picker.js';
import type { Pickable, Picker } from '../../src/balancer/picker.js';
import { ringHashPicker } from '../../src/balancer/ring-hash-picker.js';
import { hashString } from '../../src/balancer/hash-string.js';

const endpoints = (n: number): Pickable[] => Array.from({ length: n }, (_, i) => ({ key: `10.0.0.${i + 1}:8080`, weight: 1 }));
const keys = Array.from({ length: 20_000 }, (_, i) => hashString(`session-${i}`));

function owners(picker: Picker, list: readonly Pickable[]): string[] {
  return keys.map((hash) => picker.pick(list, () => 0, hash).key);
}

for (const [name, make, extraMovement] of [
  ['ring hash', (seed: number) => ringHashPicker(seededRandom(seed)), 0],
  ['maglev', (seed: number) => maglevPicker(seededRandom(seed)), 0.05],
] as const) {
  test(`${name}: a key always reaches the same endpoint, whichever client computes it`, () => {
    const list = endpoints(10);
    // Two clients with different randomness and their own lists (in another order) agree.
    const a = owners(make(1), list);
    const b = owners(make(2), [...list].reverse().map((e) => ({ ...e })));
    assert.deepEqual(a, b);
    assert.deepEqual(owners(make(1), list), a, 'and again');
  });

  test(`${name}: when one of ten endpoints goes, only its keys move (and at most ${extraMovement * 100}% more)`, () => {
    const list = endpoints(10);
    const before = owners(make(1), list);
    const gone = list[3]!.key;
    const after = owners(make(1), list.filter((e) => e.key !== gone));
    let moved = 0;
    let movedFromOthers = 0;
    before.forEach((owner, i) => {
      if (owner === after[i]) return;
      moved++;
      if (owner !== gone) movedFromOthers++;
    });
    const onGone = before.filter((o) => o === gone).length;
    assert.equal(moved - movedFromOthers, onGone, 'every key of the endpoint that left moved');
    assert.ok(movedFromOthers / keys.length <= extraMovement, `${movedFromOthers} keys of other endpoints moved`);
    assert.ok(Math.abs(moved / keys.length - 0.1) < 0.03 + extraMovement, `moved share ${moved / keys.length}`);
  });

  test(`${name}: an endpoint that comes back gets its keys back`, () => {
    const list = endpoints(10);
    const before = owners(make(1), list);
    owners(make(1), list.slice(1));
    assert.deepEqual(owners(make(1), endpoints(10)), before);
  });
}

test('maglev refuses a table size that is not a prime', () => {
  assert.throws(() => maglevPicker(seededRandom(1), { tableSize: 65536 }), /a Maglev table size must be a prime \(such as 65537\), got 65536/);
});

test('a larger ring spreads keys more evenly', () => {
  const list = endpoints(10);
  const spread = (size: number) => {
    const counts = new Map<string, number>();
    for (const owner of owners(ringHashPicker(seededRandom(1), { minimumRingSize: size }), list)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    return Math.max(...counts.values()) / Math.min(...counts.values());
  };
  assert.ok(spread(16_384) < spread(16), `max/min load ${spread(16_384)} with 16384 points, ${spread(16)} with 16`);
});

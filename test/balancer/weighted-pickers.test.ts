/**
 * Endpoint weights, honoured by every picker: the share of picks follows the weights when loads are
 * equal, and load still counts for P2C.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/clock.js';
import { maglevPicker } from '../../src/balancer/maglev-picker.js';
import { p2cPicker } from '../../src/balancer/p2c-picker.js';
import type { Pickable, Picker } from '../../src/balancer/picker.js';
import { randomPicker } from '../../src/balancer/random-picker.js';
import { ringHashPicker } from '../../src/balancer/ring-hash-picker.js';
import { roundRobinPicker } from '../../src/balancer/round-robin-picker.js';
import { hashString } from '../../src/balancer/hash-string.js';

const weighted: Pickable[] = [
  { key: '10.0.0.1:80', weight: 1 },
  { key: '10.0.0.2:80', weight: 3 },
  { key: '10.0.0.3:80', weight: 6 },
];

function shares(picker: Picker, picks: number, hashed: boolean, cost: (c: Pickable) => number = () => 1): number[] {
  const counts = weighted.map(() => 0);
  for (let i = 0; i < picks; i++) counts[weighted.indexOf(picker.pick(weighted, cost, hashed ? hashString(`user-${i}`) : undefined))]!++;
  return counts.map((c) => c / picks);
}

const expected = [0.1, 0.3, 0.6];

for (const [name, make, hashed, tolerance] of [
  ['p2c, equal costs', () => p2cPicker(seededRandom(3)), false, 0.02],
  ['random', () => randomPicker(seededRandom(5)), false, 0.02],
  ['ring hash, over many keys', () => ringHashPicker(seededRandom(7)), true, 0.03],
  ['maglev, over many keys', () => maglevPicker(seededRandom(9)), true, 0.01],
  ['ring hash, requests without a key', () => ringHashPicker(seededRandom(11)), false, 0.02],
] as const) {
  test(`${name}: each endpoint's share of picks follows its weight (1:3:6)`, () => {
    const got = shares(make(), 20_000, hashed);
    got.forEach((share, i) => assert.ok(Math.abs(share - expected[i]!) < tolerance, `shares ${got.map((s) => s.toFixed(3)).join(' ')}, want ${expected.join(' ')}`));
  });
}

test('weighted round robin gives exact shares, interleaved (nginx smooth weighted round robin)', () => {
  const picker = roundRobinPicker();
  const picks = Array.from({ length: 10 }, () => weighted.indexOf(picker.pick(weighted, () => 0)));
  assert.deepEqual([0, 1, 2].map((i) => picks.filter((p) => p === i).length), [1, 3, 6], `one round of 10: ${picks.join(' ')}`);
  // Smooth: the heaviest never takes more than two in a row here, unlike a naive a b b b c c c c c c.
  assert.ok(!/2,2,2/.test(picks.join(',')), `picks ${picks.join(' ')}`);
  const next = Array.from({ length: 10 }, () => weighted.indexOf(picker.pick(weighted, () => 0)));
  assert.deepEqual(next, picks, 'the same pattern every round');
});

test('weighted p2c still prefers the cheaper of its two draws: a slow heavy endpoint gets less than its weight', () => {
  const slow = weighted[2]!;
  const got = shares(p2cPicker(seededRandom(13)), 20_000, false, (c) => (c === slow ? 10 : 1));
  // The slow one wins only when drawn twice: 0.6² = 0.36.
  assert.ok(Math.abs(got[2]! - 0.36) < 0.02, `slow endpoint share ${got[2]}`);
});

test('equal weights keep the classic draw of two distinct endpoints', () => {
  const equal = weighted.map((c) => ({ ...c, weight: 2 }));
  const picker = p2cPicker(seededRandom(17));
  // With distinct draws the most expensive of three can never be picked.
  for (let i = 0; i < 2_000; i++) assert.notEqual(picker.pick(equal, (c) => equal.indexOf(c as (typeof equal)[number])), equal[2]);
});

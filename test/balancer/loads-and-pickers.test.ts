import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/clock.js';
import { LeastRequestLoad } from '../../src/balancer/least-request-load.js';
import { p2cPicker } from '../../src/balancer/p2c-picker.js';
import { PeakEwmaLoad } from '../../src/balancer/peak-ewma-load.js';
import { roundRobinPicker } from '../../src/balancer/round-robin-picker.js';

/** Candidates of weight 1 named by key. */
const named = (...keys: string[]) => keys.map((key) => ({ key, weight: 1 }));

test('peak-EWMA jumps to a slow observation at once and decays back with the time constant', () => {
  const load = new PeakEwmaLoad(0, { decayMs: 10_000, initialRttMs: 10 });
  assert.equal(load.cost(0), 10, 'initial RTT times (pending + 1)');
  load.start();
  assert.equal(load.cost(0), 20, 'a pending request doubles the cost');
  load.end(0, 500);
  assert.equal(load.estimate(500), 500, 'the peak is taken as is');
  // Fast responses pull the estimate down at the rate set by decayMs: after one time constant of
  // 1 ms responses it should be about 500/e.
  let t = 500;
  for (let i = 0; i < 100; i++) {
    load.start();
    t += 100;
    load.end(t - 1, t);
  }
  const estimate = load.estimate(t);
  assert.ok(Math.abs(estimate - (500 / Math.E + 1)) < 15, `after one decay period the estimate is ~${(500 / Math.E).toFixed(0)}, got ${estimate}`);
});

test('peak-EWMA decays while idle, so a once-slow endpoint is tried again', () => {
  const load = new PeakEwmaLoad(0, { decayMs: 1_000 });
  load.start();
  load.end(0, 1_000);
  const before = load.cost(1_000);
  const after = load.cost(6_000);
  assert.ok(after < before / 100, `idle for 5 decay periods: ${before} → ${after}`);
});

test('least-request cost is the pending count', () => {
  const load = new LeastRequestLoad();
  load.start();
  load.start();
  assert.equal(load.cost(), 2);
  load.end();
  assert.equal(load.cost(), 1);
});

test('p2c compares two distinct candidates and takes the cheaper', () => {
  const picker = p2cPicker(seededRandom(7));
  const costs = new Map([['a', 1], ['b', 2], ['c', 3]]);
  const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
  const candidates = named('a', 'b', 'c');
  for (let i = 0; i < 3_000; i++) counts[picker.pick(candidates, (x) => costs.get(x.key)!).key]!++;
  // With two distinct samples out of three the most expensive can never win, the cheapest wins
  // whenever it is sampled (2/3 of the time), the middle one the rest (1/3).
  assert.equal(counts.c, 0);
  assert.ok(Math.abs(counts.a! / 3_000 - 2 / 3) < 0.04, `a share ${counts.a}`);
  assert.ok(Math.abs(counts.b! / 3_000 - 1 / 3) < 0.04, `b share ${counts.b}`);
});

test('p2c spreads evenly over equal costs', () => {
  const picker = p2cPicker(seededRandom(11));
  const counts = new Array(5).fill(0) as number[];
  const candidates = named('0', '1', '2', '3', '4');
  for (let i = 0; i < 10_000; i++) counts[Number(picker.pick(candidates, () => 1).key)]!++;
  for (const c of counts) assert.ok(Math.abs(c - 2_000) < 200, `counts ${counts}`);
});

test('round robin takes each candidate in turn', () => {
  const picker = roundRobinPicker();
  const candidates = named('a', 'b', 'c');
  const picks = Array.from({ length: 7 }, () => picker.pick(candidates, () => 0).key);
  assert.deepEqual(picks, ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

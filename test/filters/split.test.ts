import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitModule } from '../../src/filters/split.js';
import { SplitParam } from '../../src/policy/policy-params.js';
import { harness } from './stack-harness.js';

async function shares(split: { service: string; weight: number }[], n: number, seed: number): Promise<Record<string, number>> {
  const h = harness([splitModule], [[SplitParam, split]], seed);
  for (let i = 0; i < n; i++) await h.call();
  const counts: Record<string, number> = {};
  for (const { ctx } of h.seen) counts[ctx.destination!] = (counts[ctx.destination!] ?? 0) + 1;
  return counts;
}

test('a 90/10 canary split lands within tolerance', async () => {
  const n = 5_000;
  const counts = await shares([{ service: 'reviews-v1', weight: 90 }, { service: 'reviews-v2', weight: 10 }], n, 3);
  const tolerance = 4 * Math.sqrt((0.1 * 0.9) / n);
  assert.ok(Math.abs(counts['reviews-v2']! / n - 0.1) < tolerance, JSON.stringify(counts));
});

test('Kubernetes-quantity-like fractional weights work the same (900m / 100m)', async () => {
  const counts = await shares([{ service: 'a', weight: 0.9 }, { service: 'b', weight: 0.1 }], 5_000, 4);
  assert.ok(Math.abs(counts.b! / 5_000 - 0.1) < 0.02, JSON.stringify(counts));
});

test('blue/green 100/0 sends everything to blue, and 0/100 everything to green', async () => {
  assert.deepEqual(await shares([{ service: 'blue', weight: 100 }, { service: 'green', weight: 0 }], 500, 5), { blue: 500 });
  assert.deepEqual(await shares([{ service: 'blue', weight: 0 }, { service: 'green', weight: 100 }], 500, 6), { green: 500 });
});

test('all weights zero is a configuration error', () => {
  assert.throws(() => harness([splitModule], [[SplitParam, [{ service: 'a', weight: 0 }]]]), /at least one destination needs a weight above 0/);
});

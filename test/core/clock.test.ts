import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, seededRandom } from '../../src/core/clock.js';

test('ManualClock fires timers in time order as it advances, and not cancelled ones', () => {
  const clock = new ManualClock(100);
  const fired: string[] = [];
  clock.setTimer(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimer(() => fired.push(`a@${clock.now()}`), 10);
  const cancelled = clock.setTimer(() => fired.push('never'), 5);
  cancelled.cancel();
  clock.advance(15);
  assert.deepEqual(fired, ['a@110']);
  assert.equal(clock.now(), 115);
  clock.advance(100);
  assert.deepEqual(fired, ['a@110', 'b@120']);
  assert.equal(clock.now(), 215);
});

test('timers set by timers fire within the same advance', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  clock.setTimer(() => {
    fired.push(clock.now());
    clock.setTimer(() => fired.push(clock.now()), 5);
  }, 5);
  clock.advance(20);
  assert.deepEqual(fired, [5, 10]);
});

test('seededRandom is repeatable and uniform enough', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 10_000 }, () => a());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
});

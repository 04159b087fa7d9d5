import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, msUntil, seededRandom, systemClock } from '../../src/core/clock.js';

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

test('ManualClock keeps a wall clock that starts where told and advances with the monotonic one', () => {
  const wallStart = Date.UTC(2030, 0, 1);
  const clock = new ManualClock(0, wallStart);
  assert.equal(clock.wallNow(), wallStart);
  clock.advance(90_000);
  assert.equal(clock.now(), 90_000);
  assert.equal(clock.wallNow(), wallStart + 90_000);
  assert.equal(msUntil(new Date(wallStart + 100_000), clock.wallNow()), 10_000);
});

test('the system wall clock is epoch time, unlike its monotonic clock', () => {
  const before = Date.now();
  const wall = systemClock.wallNow();
  assert.ok(wall >= before && wall <= Date.now());
  assert.ok(systemClock.now() < before / 2, 'monotonic time counts from process start');
});

test('a monotonic reading is not accepted where a wall-clock time is expected', () => {
  const clock = new ManualClock(0, Date.UTC(2030, 0, 1));
  const notAfter = new Date(Date.UTC(2030, 0, 2));
  // @ts-expect-error -- the typecheck fails here if a monotonic reading could be taken for epoch time.
  const wrong = msUntil(notAfter, clock.now());
  assert.notEqual(wrong, msUntil(notAfter, clock.wallNow()));
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

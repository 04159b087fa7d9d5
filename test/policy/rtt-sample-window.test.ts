import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { RttSampleWindow } from '../../src/policy/rtt-sample-window.js';

test('one sample per window: the average RTT and the most requests in flight, given when the window has passed', () => {
  const clock = new ManualClock();
  const window = new RttSampleWindow(100, 3, clock);
  assert.equal(window.add(10, 4), undefined);
  clock.advance(50);
  assert.equal(window.add(20, 9), undefined);
  clock.advance(50);
  assert.deepEqual(window.add(30, 2), { rtt: 20, inFlight: 9 });
  // The next window starts afresh.
  clock.advance(100);
  assert.equal(window.add(1, 1), undefined, 'one request is fewer than minSamples');
});

test('a window with too few requests runs on until it has enough, however long that takes', () => {
  const clock = new ManualClock();
  const window = new RttSampleWindow(100, 3, clock);
  window.add(10, 1);
  clock.advance(1_000);
  assert.equal(window.add(10, 1), undefined);
  assert.deepEqual(window.add(40, 2), { rtt: 20, inFlight: 2 });
});

test('bad windows are refused with the value', () => {
  const clock = new ManualClock();
  assert.throws(() => new RttSampleWindow(0, 1, clock), /sampleWindowMs must be a number of ms above 0, got 0/);
  assert.throws(() => new RttSampleWindow(100, 0, clock), /minWindowSamples must be a whole number >= 1, got 0/);
});

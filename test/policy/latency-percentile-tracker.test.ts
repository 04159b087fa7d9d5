import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { LatencyPercentileTracker } from '../../src/policy/latency-percentile-tracker.js';

const options = { percentile: 95, windowMs: 10_000, minSamples: 20 };

/** Within the histogram's resolution (buckets about 6% wide). */
function near(actual: number | undefined, expected: number): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= expected * 0.07, `expected about ${expected}, got ${actual}`);
}

test('no figure until minSamples observations are in the window, then the percentile of them', () => {
  const clock = new ManualClock();
  const tracker = new LatencyPercentileTracker(options, clock);
  for (let ms = 1; ms <= 19; ms++) tracker.record(ms);
  assert.equal(tracker.current(), undefined, '19 observations are not enough');
  tracker.record(20);
  near(tracker.current(), 19);
  for (let ms = 21; ms <= 100; ms++) tracker.record(ms);
  clock.advance(1_000); // the cached figure is kept for a slice (a tenth of the window)
  near(tracker.current(), 95);
});

test('the figure is cached for a slice of the window, then follows the new latencies', () => {
  const clock = new ManualClock();
  const tracker = new LatencyPercentileTracker(options, clock);
  for (let i = 0; i < 100; i++) tracker.record(10);
  near(tracker.current(), 10);
  for (let i = 0; i < 99; i++) tracker.record(200);
  clock.advance(999);
  near(tracker.current(), 10);
  clock.advance(1);
  near(tracker.current(), 200);
});

test('the first figure, over a few requests, is counted again as soon as the observations double', () => {
  const clock = new ManualClock();
  const tracker = new LatencyPercentileTracker(options, clock);
  // A route's first requests open connections: slow.
  for (let i = 0; i < 20; i++) tracker.record(100);
  near(tracker.current(), 100);
  for (let i = 0; i < 19; i++) tracker.record(2);
  near(tracker.current(), 100);
  for (let i = 0; i < 400; i++) tracker.record(2);
  near(tracker.current(), 2);
});

test('observations older than the window are forgotten, and with too few left there is no figure', () => {
  const clock = new ManualClock();
  const tracker = new LatencyPercentileTracker(options, clock);
  for (let i = 0; i < 100; i++) tracker.record(50);
  clock.advance(5_000);
  for (let i = 0; i < 100; i++) tracker.record(5);
  clock.advance(1_000);
  near(tracker.current(), 50);
  clock.advance(5_000); // the 50 ms ones are more than a window old now
  near(tracker.current(), 5);
  clock.advance(10_000);
  assert.equal(tracker.current(), undefined, 'an empty window has no percentile');
  for (let i = 0; i < 20; i++) tracker.record(7);
  near(tracker.current(), 7);
});

test('a percentile is a share of the observations: p95 of 96 fast and 4 slow is fast, p99 is slow', () => {
  const clock = new ManualClock();
  const p95 = new LatencyPercentileTracker(options, clock);
  const p99 = new LatencyPercentileTracker({ ...options, percentile: 99 }, clock);
  for (const tracker of [p95, p99]) {
    for (let i = 0; i < 96; i++) tracker.record(10);
    for (let i = 0; i < 4; i++) tracker.record(100);
  }
  near(p95.current(), 10);
  assert.ok(p99.current()! > 90, `p99 ${p99.current()}`);
});

test('bad options are refused with the value', () => {
  const clock = new ManualClock();
  assert.throws(() => new LatencyPercentileTracker({ ...options, percentile: 100 }, clock), /percentile must be above 0 and below 100, got 100/);
  assert.throws(() => new LatencyPercentileTracker({ ...options, windowMs: 5 }, clock), /windowMs must be at least 10 ms, got 5/);
  assert.throws(() => new LatencyPercentileTracker({ ...options, minSamples: 0 }, clock), /minSamples must be a whole number >= 1, got 0/);
});

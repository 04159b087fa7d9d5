import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gradient2Limit } from '../../src/policy/gradient2-limit.js';

test("Netflix's defaults: starts at 20, stays within 20..200", () => {
  const limit = new Gradient2Limit();
  assert.equal(limit.limit, 20);
  for (let i = 0; i < 1_000; i++) limit.onSample(10, limit.limit);
  assert.equal(limit.limit, 200, 'a steady RTT at full use grows the limit up to maxLimit');
  for (let i = 0; i < 50; i++) limit.onSample(10_000, limit.limit);
  assert.equal(limit.limit, 20, 'a sudden thousandfold RTT shrinks it, never below minLimit');
});

test('at a steady RTT the limit grows by the queue size, smoothed', () => {
  const limit = new Gradient2Limit({ initialLimit: 10, minLimit: 1, maxLimit: 100 });
  limit.onSample(10, 10);
  // gradient 1 (the sample is the baseline): 10 × 0.8 + (10 × 1 + 4) × 0.2 = 10.8
  assert.equal(limit.limit, 10);
  limit.onSample(10, 10);
  // 10.8 × 0.8 + 14.8 × 0.2 = 11.6
  assert.equal(limit.limit, 11);
});

test('an RTT well above the long-term baseline shrinks the limit, at most halving the estimate per sample', () => {
  const limit = new Gradient2Limit({ initialLimit: 50, minLimit: 1, maxLimit: 100, smoothing: 1, queueSize: 0 });
  for (let i = 0; i < 10; i++) limit.onSample(10, 50);
  assert.equal(limit.limit, 50, 'at the baseline, with no headroom, the limit holds');
  limit.onSample(1_000, 50);
  assert.equal(limit.limit, 25, 'a hundred times the baseline still only halves it');
  limit.onSample(15, 25);
  // the outlier moved the 600-sample baseline only to about 13 ms; 1.5 × 13 / 15 caps at 1
  assert.equal(limit.limit, 25);
});

test('within the tolerance (1.5 × baseline) the limit does not shrink', () => {
  const limit = new Gradient2Limit({ initialLimit: 40, minLimit: 1, maxLimit: 100, smoothing: 1, queueSize: 0 });
  for (let i = 0; i < 10; i++) limit.onSample(10, 40);
  limit.onSample(14, 40);
  assert.equal(limit.limit, 40, '14 ms against a 10 ms baseline is within 1.5×');
  limit.onSample(30, 40);
  assert.ok(limit.limit < 40, `30 ms against about 11 ms shrinks it: ${limit.limit}`);
});

test('an app-limited client (under half the limit in flight) leaves the limit alone', () => {
  const limit = new Gradient2Limit({ initialLimit: 40, minLimit: 1, maxLimit: 100 });
  for (let i = 0; i < 10; i++) limit.onSample(10, 5);
  limit.onSample(1_000, 19);
  assert.equal(limit.limit, 40);
  limit.onSample(1_000, 20);
  assert.ok(limit.limit < 40);
});

test('after a long overload the baseline comes back down quickly once RTTs fall', () => {
  const limit = new Gradient2Limit({ initialLimit: 20, minLimit: 1, maxLimit: 100, longWindow: 600 });
  for (let i = 0; i < 2_000; i++) limit.onSample(100, limit.limit);
  assert.ok(Math.abs(limit.longRtt - 100) < 1);
  for (let i = 0; i < 50; i++) limit.onSample(10, limit.limit);
  // An average over 600 samples alone would still be near 93 ms; the 5% pull-down brings it near 2× the RTT.
  assert.ok(limit.longRtt < 25, `baseline after recovery: ${limit.longRtt}`);
});

test('the limit recovers and grows again once the RTT is back at the baseline', () => {
  const limit = new Gradient2Limit({ initialLimit: 30, minLimit: 2, maxLimit: 60 });
  for (let i = 0; i < 20; i++) limit.onSample(10, limit.limit);
  for (let i = 0; i < 50; i++) limit.onSample(80, limit.limit);
  const shrunk = limit.limit;
  assert.ok(shrunk < 10, `overloaded: ${shrunk}`);
  for (let i = 0; i < 200; i++) limit.onSample(10, limit.limit);
  assert.ok(limit.limit > 30, `recovered: ${limit.limit}`);
});

test('bad parameters are refused, naming the field and the value', () => {
  assert.throws(() => new Gradient2Limit({ minLimit: 0 }), /minLimit must be a whole number >= 1, got 0/);
  assert.throws(() => new Gradient2Limit({ minLimit: 10, maxLimit: 5 }), /maxLimit must be a whole number >= minLimit \(10\), got 5/);
  assert.throws(() => new Gradient2Limit({ minLimit: 1, maxLimit: 10, initialLimit: 11 }), /initialLimit .* \(1\.\.10\), got 11/);
  assert.throws(() => new Gradient2Limit({ smoothing: 0 }), /smoothing must be above 0 and at most 1, got 0/);
  assert.throws(() => new Gradient2Limit({ rttTolerance: 0.5 }), /rttTolerance must be a number >= 1, got 0.5/);
  assert.throws(() => new Gradient2Limit({ longWindow: 0 }), /longWindow must be a whole number of samples >= 1, got 0/);
});

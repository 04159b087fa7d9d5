import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureRateBreaker } from '../../src/policy/failure-rate-breaker.js';

const options = { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 1_000, rollingWindowMs: 10_000 };

test('opens only with enough volume and more than the threshold failing', () => {
  const b = new FailureRateBreaker(options, 0);
  assert.equal(b.record(true, 0), false);
  assert.equal(b.record(true, 1), false);
  assert.equal(b.record(false, 2), false);
  assert.equal(b.record(false, 3), false, '2 of 4 is 50 %, not more');
  assert.equal(b.record(true, 4), true, '3 of 5 opens');
  assert.equal(b.state(4), 'open');
  assert.equal(b.admit(500), 'rejected');
});

test('buckets expire as the clock moves, however long the gap', () => {
  const b = new FailureRateBreaker(options, 0);
  for (let i = 0; i < 3; i++) b.record(true, i);
  assert.deepEqual(b.window(9_999), { calls: 3, failures: 3 });
  assert.deepEqual(b.window(10_000), { calls: 0, failures: 0 }, 'the first bucket left the window');
  b.record(true, 10_500);
  assert.deepEqual(b.window(1_000_000), { calls: 0, failures: 0 }, 'a gap longer than the window empties it');
  assert.equal(b.record(true, 1_000_001), false, 'one failure after the gap cannot open it');
});

test('one probe after the reset timeout; success closes with a fresh window, failure reopens', () => {
  const b = new FailureRateBreaker(options, 0);
  for (let i = 0; i < 4; i++) b.record(true, i);
  assert.equal(b.admit(999), 'rejected');
  assert.equal(b.admit(1_003), 'probe');
  assert.equal(b.admit(1_004), 'rejected', 'only one probe at a time');
  assert.equal(b.state(1_004), 'half-open');
  assert.equal(b.probeSettled('failure', 1_010), true);
  assert.equal(b.probeAt(), 2_010);
  assert.equal(b.admit(2_010), 'probe');
  assert.equal(b.probeSettled('aborted', 2_011), false, 'an aborted probe proves nothing');
  assert.equal(b.admit(2_012), 'probe');
  assert.equal(b.probeSettled('success', 2_013), false);
  assert.equal(b.state(2_013), 'closed');
  assert.deepEqual(b.window(2_013), { calls: 0, failures: 0 });
});

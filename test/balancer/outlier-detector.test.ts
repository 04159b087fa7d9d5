import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { newOutlierState, OutlierDetector } from '../../src/balancer/outlier-detector.js';

test('consecutive failures eject; a success in between resets the streak', () => {
  const clock = new ManualClock();
  const detector = new OutlierDetector({ consecutiveFailures: 3, baseEjectionMs: 1_000 }, clock);
  const s = newOutlierState();
  assert.equal(detector.onFailure(s, 4, 0), false);
  assert.equal(detector.onFailure(s, 4, 0), false);
  detector.onSuccess(s);
  assert.equal(detector.onFailure(s, 4, 0), false);
  assert.equal(detector.onFailure(s, 4, 0), false);
  assert.equal(detector.onFailure(s, 4, 0), true);
  assert.equal(detector.isEjected(s), true);
});

test('ejection grows with each ejection, is capped, and readmits on probation', () => {
  const clock = new ManualClock();
  const detector = new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1_000, maxEjectionMs: 2_500 }, clock);
  const s = newOutlierState();
  assert.ok(detector.onFailure(s, 4, 0));
  clock.advance(999);
  assert.ok(!detector.readmitIfDue(s, clock.now()));
  clock.advance(1);
  assert.ok(detector.readmitIfDue(s, clock.now()), 'back after the first, 1 s ejection');
  assert.ok(s.onProbation);
  assert.ok(detector.onFailure(s, 4, 0), 'one failure on probation re-ejects');
  clock.advance(1_999);
  assert.ok(!detector.readmitIfDue(s, clock.now()), 'the second ejection lasts 2 s');
  clock.advance(1);
  assert.ok(detector.readmitIfDue(s, clock.now()));
  assert.ok(detector.onFailure(s, 4, 0));
  clock.advance(2_499);
  assert.ok(!detector.readmitIfDue(s, clock.now()), 'the third would be 3 s but is capped at 2.5 s');
  clock.advance(1);
  assert.ok(detector.readmitIfDue(s, clock.now()));
  detector.onSuccess(s);
  assert.equal(s.onProbation, false);
  assert.equal(s.ejections, 2, 'a healthy probe earns back one step');
});

test('isEjected is a read: it follows the clock but never readmits; only readmitIfDue does', () => {
  const clock = new ManualClock();
  const detector = new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1_000 }, clock);
  const s = newOutlierState();
  assert.ok(detector.onFailure(s, 4, 0));
  const ejected = { ...s };
  assert.ok(detector.isEjected(s));
  clock.advance(1_000);
  for (let i = 0; i < 100; i++) assert.equal(detector.isEjected(s), false, 'its ejection time is over');
  assert.deepEqual(s, ejected, 'reading changed nothing');
  assert.ok(detector.readmitIfDue(s, clock.now()));
  assert.deepEqual(s, { ...ejected, ejectedUntil: 0, onProbation: true });
});

test('maxEjectedPercent bounds how many are out, but one may always go', () => {
  const clock = new ManualClock();
  const detector = new OutlierDetector({ consecutiveFailures: 1, maxEjectedPercent: 50 }, clock);
  assert.ok(detector.onFailure(newOutlierState(), 4, 1), 'second of four: 50% allowed');
  assert.ok(!detector.onFailure(newOutlierState(), 4, 2), 'third of four would be 75%');
  assert.ok(new OutlierDetector({ consecutiveFailures: 1, maxEjectedPercent: 10 }, clock).onFailure(newOutlierState(), 3, 0), 'one always allowed');
});

test('consecutiveFailures 0 turns ejection off', () => {
  const detector = new OutlierDetector({ consecutiveFailures: 0 }, new ManualClock());
  const s = newOutlierState();
  for (let i = 0; i < 100; i++) assert.equal(detector.onFailure(s, 2, 0), false);
});

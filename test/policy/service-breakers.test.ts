import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { ServiceBreakers } from '../../src/policy/service-breakers.js';

test('a service keeps its breaker, open circuit included, while its settings stay the same; new settings give a new, closed one', () => {
  const clock = new ManualClock();
  const breakers = new ServiceBreakers(clock);
  const first = breakers.breakerFor('Books', { volumeThreshold: 1 });
  assert.equal(first.record(true, clock.now()), true, 'one failure opens it');
  assert.equal(breakers.breakerFor('books', { volumeThreshold: 1, errorThresholdPercentage: 50 }), first, 'the same settings, defaults spelled out, and the name in any case');
  assert.equal(breakers.breakerFor('books', { volumeThreshold: 1 }).state(clock.now()), 'open');
  const changed = breakers.breakerFor('books', { volumeThreshold: 2 });
  assert.notEqual(changed, first);
  assert.equal(changed.state(clock.now()), 'closed');
  assert.notEqual(breakers.breakerFor('authors', { volumeThreshold: 2 }), changed, 'one per service');
});

test('bad settings are refused with the field and the value', () => {
  assert.throws(() => new ServiceBreakers(new ManualClock()).breakerFor('books', { errorThresholdPercentage: 150 }), /circuitBreaker\.errorThresholdPercentage must be 0\.\.100, got 150/);
});

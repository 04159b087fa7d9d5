import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { concurrencyLimitModule } from '../../src/filters/concurrency-limit.js';
import { LimitsParam } from '../../src/policy/policy-params.js';
import { rateLimitModule } from '../../src/filters/rate-limit.js';
import { harness, settle } from './stack-harness.js';

test('the bulkhead refuses beyond maxConcurrency at once, and admits again when a slot frees', async () => {
  const h = harness([concurrencyLimitModule], [[LimitsParam, { maxConcurrency: 2 }]]);
  h.delayMs = 100;
  const first = h.call();
  const second = h.call();
  await assert.rejects(h.call(), (err: unknown) => isMeshError(err, 'CONCURRENCY_LIMITED') && /2 requests already in flight/.test(err.message));
  h.clock.advance(100);
  await Promise.all([first, second]);
  h.delayMs = 0;
  assert.equal((await h.call()).statusCode, 200);
  assert.equal(h.counters.get('concurrency_limited_total'), 1);
});

test('the token bucket allows a burst, then the sustained rate', async () => {
  const h = harness([rateLimitModule], [[LimitsParam, { rateLimit: { requestsPerSecond: 10, burst: 3 } }]]);
  for (let i = 0; i < 3; i++) await h.call();
  await assert.rejects(h.call(), (err: unknown) => isMeshError(err, 'RATE_LIMITED') && /over 10 requests\/s \(burst 3\)/.test(err.message));
  h.clock.advance(100); // one token at 10/s
  await h.call();
  await assert.rejects(h.call(), (err: unknown) => isMeshError(err, 'RATE_LIMITED'));
  h.clock.advance(10_000); // refills, but never past the burst
  for (let i = 0; i < 3; i++) await h.call();
  await assert.rejects(h.call(), (err: unknown) => isMeshError(err, 'RATE_LIMITED'));
  assert.equal(h.counters.get('rate_limited_total'), 3);
  await settle();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { DEADLINE_HEADER, readDeadlineHeader, withDeadlineHeader } from '../../src/policy/deadline-header.js';
import { perTryTimeoutModule, totalTimeoutModule } from '../../src/filters/timeout.js';
import { TimeoutPolicyParam } from '../../src/policy/policy-params.js';
import { harness, settle } from './stack-harness.js';

const both = [totalTimeoutModule, perTryTimeoutModule];

test('the total timeout fails with TIMEOUT at the limit, on the injected clock', async () => {
  const h = harness(both, [[TimeoutPolicyParam, { totalMs: 1_000 }]]);
  h.delayMs = 5_000;
  const pending = h.call();
  await settle();
  h.clock.advance(999);
  await settle();
  h.clock.advance(1);
  await assert.rejects(pending, (err: unknown) => isMeshError(err, 'TIMEOUT') && /timed out after 1000 ms, the total timeout/.test(err.message));
  assert.equal(h.seen[0]!.ctx.signal?.aborted, true, 'the work below was told to stop');
  assert.equal(h.counters.get('timeouts_total'), 1);
});

test('the per-try timeout fails with PER_TRY_TIMEOUT and never exceeds what the total leaves', async () => {
  const h = harness(both, [[TimeoutPolicyParam, { totalMs: 1_000, perTryMs: 300 }]]);
  h.delayMs = 5_000;
  const pending = h.call();
  await settle();
  h.clock.advance(300);
  await assert.rejects(pending, (err: unknown) => isMeshError(err, 'PER_TRY_TIMEOUT'));
  assert.equal(h.seen[0]!.req.headers && readDeadlineHeader(h.seen[0]!.req.headers), 1_000, 'the attempt carried the remaining deadline');
});

test('a route timeout and a propagated deadline header shorten the total; the shortest wins', async () => {
  const h = harness(both, [[TimeoutPolicyParam, { totalMs: 10_000 }]]);
  h.delayMs = 60_000;
  const pending = h.call({ headers: { [DEADLINE_HEADER]: '250' } });
  await settle();
  assert.equal(readDeadlineHeader(h.seen[0]!.req.headers), 250, 'forwarded downstream with what is left');
  h.clock.advance(250);
  await assert.rejects(pending, (err: unknown) => isMeshError(err, 'TIMEOUT') && /250 ms, the propagated deadline/.test(err.message));
});

test('without any timeout the request passes untouched, with no deadline header', async () => {
  const h = harness(both, [[TimeoutPolicyParam, {}]]);
  await h.call({ headers: { a: 'b' } });
  assert.deepEqual(h.seen[0]!.req.headers, { a: 'b' });
  assert.equal(h.seen[0]!.ctx.deadline, undefined);
});

test('deadline header parsing ignores malformed values and replaces existing ones in every header shape', () => {
  assert.equal(readDeadlineHeader({ [DEADLINE_HEADER]: '12' }), 12);
  assert.equal(readDeadlineHeader({ [DEADLINE_HEADER]: '-5' }), undefined);
  assert.equal(readDeadlineHeader({ [DEADLINE_HEADER]: 'soon' }), undefined);
  assert.equal(readDeadlineHeader(undefined), undefined);
  const asArray = withDeadlineHeader({ method: 'GET', path: '/', headers: ['X-Meshwork-Deadline-Ms', '99', 'a', 'b'] }, 42.7);
  assert.deepEqual(asArray.headers, ['a', 'b', DEADLINE_HEADER, '42']);
  const asObject = withDeadlineHeader({ method: 'GET', path: '/', headers: { 'X-Meshwork-Deadline-Ms': '99', a: 'b' } }, 7);
  assert.deepEqual(asObject.headers, { a: 'b', [DEADLINE_HEADER]: '7' });
});

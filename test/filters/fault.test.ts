import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultModule } from '../../src/filters/fault.js';
import { FaultPolicyParam } from '../../src/policy/policy-params.js';
import { harness, settle } from './stack-harness.js';

/** |observed − p| within 4 standard deviations of a binomial proportion. */
function assertRate(observed: number, n: number, p: number, what: string): void {
  const tolerance = 4 * Math.sqrt((p * (1 - p)) / n);
  assert.ok(Math.abs(observed / n - p) <= tolerance, `${what}: ${observed}/${n} = ${(observed / n).toFixed(3)}, expected ${p} ± ${tolerance.toFixed(3)}`);
}

test('abort rate matches the configured percentage, and aborts never reach the service', async () => {
  const n = 4_000;
  const h = harness([faultModule], [[FaultPolicyParam, [{ abort: { percent: 25, httpStatus: 503 } }]]], 7);
  let aborted = 0;
  for (let i = 0; i < n; i++) {
    const res = await h.call();
    if (res.statusCode === 503) {
      aborted++;
      assert.equal(res.headers['x-meshwork-fault'], 'abort');
      assert.match(await res.body.text(), /fault injected by meshwork: 503/);
    }
  }
  assertRate(aborted, n, 0.25, 'abort rate');
  assert.equal(h.seen.length, n - aborted);
  assert.equal(h.counters.get('faults_aborted_total'), aborted);
});

test('delays fire at the configured rate and wait on the injected clock', async () => {
  const n = 2_000;
  const h = harness([faultModule], [[FaultPolicyParam, [{ delay: { percent: 10, fixedDelayMs: 5_000 } }]]], 11);
  const pending = Array.from({ length: n }, () => h.call());
  await settle();
  const immediate = h.seen.length;
  assertRate(n - immediate, n, 0.1, 'delay rate');
  h.clock.advance(4_999);
  await settle();
  assert.equal(h.seen.length, immediate, 'nothing delayed gets through before the delay is over');
  h.clock.advance(1);
  await Promise.all(pending);
  assert.equal(h.seen.length, n);
  assert.equal(h.counters.get('faults_delayed_total'), n - immediate);
});

test('a header-matched fault (bookinfo: end-user jason) applies only to matching requests', async () => {
  const h = harness([faultModule], [[FaultPolicyParam, [{ match: { headers: { 'end-user': 'jason' } }, delay: { percent: 100, fixedDelayMs: 7_000 }, abort: { percent: 100, httpStatus: 500 } }]]]);
  const jason = h.call({ headers: { 'end-user': 'jason' } });
  await settle();
  let done = false;
  void jason.then(() => (done = true));
  await settle();
  assert.equal(done, false, 'jason is delayed first');
  h.clock.advance(7_000);
  assert.equal((await jason).statusCode, 500, 'then aborted');
  const alice = await h.call({ headers: { 'end-user': 'alice' } });
  assert.equal(alice.statusCode, 200);
  assert.equal(h.seen.length, 1, "only alice's request reached the service");
});

test('the first matching fault wins; none configured means no filter at all', async () => {
  const h = harness([faultModule], [[FaultPolicyParam, [{ match: { method: 'POST' }, abort: { percent: 100, httpStatus: 418 } }, { abort: { percent: 100, httpStatus: 502 } }]]]);
  assert.equal((await h.call({ method: 'POST' })).statusCode, 418);
  assert.equal((await h.call()).statusCode, 502);
  const bare = harness([faultModule], [[FaultPolicyParam, []]]);
  await bare.call();
  assert.equal(bare.seen.length, 1);
});

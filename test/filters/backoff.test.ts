import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, seededRandom } from '../../src/core/clock.js';
import { ExponentialBackoff, sleep } from '../../src/policy/backoff.js';

test('ceilings double from the base and stop at the cap', () => {
  const backoff = new ExponentialBackoff({ baseMs: 25, maxMs: 1_000 });
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoff.ceilingFor(n)), [25, 50, 100, 200, 400, 800, 1_000]);
  assert.equal(backoff.ceilingFor(10_000), 1_000, 'huge retry numbers do not overflow past the cap');
});

test('defaults: 25 ms base, 1 s cap', () => {
  const backoff = new ExponentialBackoff();
  assert.equal(backoff.baseMs, 25);
  assert.equal(backoff.maxMs, 1_000);
});

test('full jitter: every delay lies in [0, ceiling) and spreads over the whole range', () => {
  const backoff = new ExponentialBackoff({ baseMs: 10, maxMs: 500 }, seededRandom(7));
  for (let n = 1; n <= 8; n++) {
    const ceiling = backoff.ceilingFor(n);
    const delays = Array.from({ length: 2_000 }, () => backoff.delayFor(n));
    assert.ok(delays.every((d) => d >= 0 && d < ceiling), `retry ${n}: all delays within [0, ${ceiling})`);
    const mean = delays.reduce((s, d) => s + d, 0) / delays.length;
    assert.ok(Math.abs(mean - ceiling / 2) < ceiling * 0.05, `retry ${n}: mean ${mean} is about half of ${ceiling}`);
    assert.ok(Math.min(...delays) < ceiling * 0.05 && Math.max(...delays) > ceiling * 0.95, `retry ${n}: uses the whole range`);
  }
});

test('the delay is the injected random scaled to the ceiling, so a seed repeats it', () => {
  const a = new ExponentialBackoff({ baseMs: 100, maxMs: 10_000 }, seededRandom(42));
  const b = new ExponentialBackoff({ baseMs: 100, maxMs: 10_000 }, seededRandom(42));
  const xs = [1, 2, 3, 4].map((n) => a.delayFor(n));
  assert.deepEqual(xs, [1, 2, 3, 4].map((n) => b.delayFor(n)));
  assert.equal(new ExponentialBackoff({ baseMs: 100 }, () => 0.5).delayFor(3), 200);
  assert.equal(new ExponentialBackoff({ baseMs: 100 }, () => 0).delayFor(3), 0);
});

test('rejects negative or non-finite settings', () => {
  assert.throws(() => new ExponentialBackoff({ baseMs: -1 }), /baseMs/);
  assert.throws(() => new ExponentialBackoff({ maxMs: Number.POSITIVE_INFINITY }), /maxMs/);
});

test('sleep waits on the injected clock and is cut short by an abort', async () => {
  const clock = new ManualClock();
  let done = false;
  const waiting = sleep(clock, 100).then(() => { done = true; });
  clock.advance(99);
  await Promise.resolve();
  assert.equal(done, false);
  clock.advance(1);
  await waiting;
  assert.equal(done, true);

  const controller = new AbortController();
  const aborted = sleep(clock, 100, controller.signal);
  controller.abort(new Error('caller gave up'));
  await assert.rejects(aborted, /caller gave up/);

  // Zero waits need no clock movement.
  await sleep(clock, 0);
});

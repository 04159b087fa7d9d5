import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { RetryBudget } from '../../src/policy/retry-budget.js';
import { ServiceRetryBudgets } from '../../src/policy/service-retry-budgets.js';

function withdrawAll(budget: RetryBudget, cap = 100_000): number {
  let n = 0;
  while (n < cap && budget.tryWithdraw()) n++;
  return n;
}

test('defaults are Linkerd\'s: ratio 0.2, 10 retries/s, 10 s ttl', () => {
  const budget = new RetryBudget({}, new ManualClock());
  assert.equal(budget.retryRatio, 0.2);
  assert.equal(budget.minRetriesPerSecond, 10);
  assert.equal(budget.ttlMs, 10_000);
  // With no traffic yet, only the reserve: 10/s * 10 s.
  assert.equal(budget.available(), 100);
});

test('100 requests over 1 s allow exactly 10/s * 10 s + 0.2 * 100 = 120 retries under total failure', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 }, clock);
  let retries = 0;
  for (let i = 0; i < 100; i++) {
    budget.deposit();
    // Every request fails and would retry up to 3 times: the budget alone limits the total.
    for (let r = 0; r < 3 && budget.tryWithdraw(); r++) retries++;
    clock.advance(10);
  }
  retries += withdrawAll(budget);
  assert.equal(retries, 120);
  assert.equal(budget.tryWithdraw(), false);
});

test('the ratio alone: with no reserve, one retry per five requests', () => {
  const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 0 }, new ManualClock());
  for (let i = 0; i < 4; i++) budget.deposit();
  assert.equal(budget.tryWithdraw(), false, 'four requests do not pay for a retry at 20 %');
  budget.deposit();
  assert.equal(budget.tryWithdraw(), true);
  assert.equal(budget.tryWithdraw(), false);
});

test('a zero ratio and zero reserve never allow a retry', () => {
  const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 0 }, new ManualClock());
  for (let i = 0; i < 1000; i++) budget.deposit();
  assert.equal(budget.tryWithdraw(), false);
});

test('deposits and withdrawals expire after the ttl, leaving the reserve', () => {
  const clock = new ManualClock(5_000);
  const budget = new RetryBudget({ retryRatio: 0.5, minRetriesPerSecond: 1, ttlMs: 10_000 }, clock);
  for (let i = 0; i < 100; i++) budget.deposit();
  assert.equal(budget.available(), 10 + 50);
  assert.equal(withdrawAll(budget), 60);

  // Within the window nothing has come back yet.
  clock.advance(8_000);
  assert.equal(budget.available(), 0);

  // A full ttl later the old deposits and the spent withdrawals have both expired.
  clock.advance(2_000);
  assert.equal(budget.available(), 10);
  assert.equal(withdrawAll(budget), 10);
});

test('the window slides by buckets: older slices expire first', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ retryRatio: 1, minRetriesPerSecond: 0, ttlMs: 1_000 }, clock);
  for (let i = 0; i < 3; i++) budget.deposit(); // slice 0
  clock.advance(500);
  for (let i = 0; i < 2; i++) budget.deposit(); // slice 5
  assert.equal(budget.available(), 5);
  clock.advance(500); // slice 10: slice 0 has left the 10-slice window
  assert.equal(budget.available(), 2);
  clock.advance(500);
  assert.equal(budget.available(), 0);
});

test('rejects nonsense settings', () => {
  assert.throws(() => new RetryBudget({ retryRatio: -1 }), /retryRatio/);
  assert.throws(() => new RetryBudget({ minRetriesPerSecond: Number.NaN }), /minRetriesPerSecond/);
  assert.throws(() => new RetryBudget({ ttlMs: 0 }), /ttlMs/);
});

test('a mesh keeps one budget per service while its settings stay the same, defaults spelled out or not', () => {
  const budgets = new ServiceRetryBudgets(new ManualClock());
  const reviews = budgets.budgetFor('reviews', {});
  assert.equal(budgets.budgetFor('Reviews', { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 }), reviews);
  assert.notEqual(budgets.budgetFor('ratings', {}), reviews, 'another service has its own');
  const changed = budgets.budgetFor('reviews', { retryRatio: 0.5 });
  assert.notEqual(changed, reviews);
  assert.equal(changed.retryRatio, 0.5);
  assert.equal(budgets.budgetFor('reviews', { retryRatio: 0.5 }), changed);
});

/**
 * Retries for unary gRPC calls on a retry budget (Finagle/Linkerd: retries may add `retryRatio` of
 * recent calls plus a floor per second; grpcClient draws on the one its service's HTTP client uses)
 * with the same backoff with full jitter as HTTP. An attempt is retried only when its status is one
 * of `retryableCodes` (UNAVAILABLE by default, as Linkerd's `retry.linkerd.io/grpc`), only while the
 * budget allows, and only when the backoff ends before the call's deadline: a retry that could not
 * be sent in time spends no budget, and the caller gets DEADLINE_EXCEEDED at the deadline, as from
 * grpc-js's own retries. Streaming calls are never retried: their messages cannot be replayed.
 */
import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../../core/clock.js';
import { RETRY_DEFAULTS, type BackoffPolicy, type RetryBudgetPolicy } from '../../core/policy.js';
import { ExponentialBackoff } from '../../policy/backoff.js';
import { RetryBudget } from '../../policy/retry-budget.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export interface GrpcRetryOptions {
  /**
   * The budget settings for a budget of this step's own, or a budget to share, or a function asked
   * on every call for the budget to draw on (undefined: the call is not retried), so that a budget
   * a config reload replaces is picked up.
   */
  budget?: RetryBudgetPolicy | RetryBudget | (() => RetryBudget | undefined);
  backoff?: BackoffPolicy;
  /** Attempts in all, the first included. Default 4, as for HTTP (RETRY_DEFAULTS). */
  maxAttempts?: number;
  /** Status codes that are retried. Default [UNAVAILABLE], as for HTTP (RETRY_DEFAULTS). */
  retryableCodes?: Status[];
  clock?: Clock;
  random?: Random;
  /** Told of each retry sent and each one not sent for want of budget or time (for metrics). */
  onEvent?: (event: 'retries_total' | 'retry_budget_exhausted_total' | 'retry_skipped_deadline_total') => void;
}

export function retryStep(options: GrpcRetryOptions = {}): GrpcCallStep {
  const clock = options.clock ?? systemClock;
  const budgetOf = budgetSource(options.budget, clock);
  const backoff = new ExponentialBackoff(options.backoff ?? {}, options.random ?? systemRandom);
  const maxAttempts = options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts;
  const retryable = new Set<number>(options.retryableCodes ?? RETRY_DEFAULTS.grpcStatusCodes);
  const onEvent = options.onEvent;
  return {
    role: 'retry',
    started(call: GrpcCall): boolean {
      if (!call.unary) return true;
      const budget = budgetOf();
      if (budget === undefined) return true;
      budget.deposit();
      call.retryBudget = budget;
      return true;
    },
    attemptEnded(call: GrpcCall, status: StatusObject): boolean {
      const budget = call.retryBudget;
      if (budget === undefined || status.code === Status.OK || !retryable.has(status.code) || call.attempts >= maxAttempts) return false;
      const delay = backoff.delayFor(call.attempts);
      if (call.remainingMs(clock) <= delay) {
        onEvent?.('retry_skipped_deadline_total');
      } else if (budget.tryWithdraw()) {
        onEvent?.('retries_total');
      } else {
        onEvent?.('retry_budget_exhausted_total');
        return false;
      }
      // Past the deadline, the wait ends the call with DEADLINE_EXCEEDED instead of retrying.
      call.wait(clock, delay, () => call.retry());
      return true;
    },
  };
}

function budgetSource(given: GrpcRetryOptions['budget'], clock: Clock): () => RetryBudget | undefined {
  if (typeof given === 'function') return given;
  const budget = given instanceof RetryBudget ? given : new RetryBudget(given ?? {}, clock);
  return () => budget;
}

/**
 * Retries for unary gRPC calls as a grpc-js client interceptor, on a retry budget (Finagle/Linkerd:
 * retries may add `retryRatio` of recent calls plus a floor per second; grpcClient passes the one
 * its service's HTTP client uses) and the same backoff with full jitter as HTTP. A call is retried only when its status is one of `retryableCodes`
 * (UNAVAILABLE by default, as Linkerd's `retry.linkerd.io/grpc`), and only while the budget allows;
 * every attempt runs under the call's one deadline, so the deadline is the total timeout. Streaming
 * calls are never retried: their messages cannot be replayed.
 */
import { InterceptingCall, status as Status, type Interceptor, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../core/clock.js';
import { RETRY_DEFAULTS, type BackoffPolicy, type RetryBudgetPolicy } from '../core/policy.js';
import { ExponentialBackoff } from '../policy/backoff.js';
import { RetryBudget } from '../policy/retry-budget.js';

export interface GrpcRetryOptions {
  /**
   * The budget settings for a budget of this interceptor's own, or a budget to share, or a function
   * asked on every call for the budget to draw on (undefined: the call is not retried), so that a
   * budget a config reload replaces is picked up.
   */
  budget?: RetryBudgetPolicy | RetryBudget | (() => RetryBudget | undefined);
  backoff?: BackoffPolicy;
  /** Attempts in all, the first included. Default 4, as for HTTP (RETRY_DEFAULTS). */
  maxAttempts?: number;
  /** Status codes that are retried. Default [UNAVAILABLE], as for HTTP (RETRY_DEFAULTS). */
  retryableCodes?: Status[];
  clock?: Clock;
  random?: Random;
  /** Told of each retry sent and each one the budget refused (for metrics). */
  onEvent?: (event: 'retries_total' | 'retry_budget_exhausted_total') => void;
}

export function grpcRetryInterceptor(options: GrpcRetryOptions = {}): Interceptor {
  const clock = options.clock ?? systemClock;
  const budgetOf = budgetSource(options.budget, clock);
  const backoff = new ExponentialBackoff(options.backoff ?? {}, options.random ?? systemRandom);
  const maxAttempts = options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts;
  const retryable = new Set<number>(options.retryableCodes ?? RETRY_DEFAULTS.grpcStatusCodes);

  return (callOptions, nextCall) => {
    const definition = callOptions.method_definition;
    const budget = budgetOf();
    if (definition.requestStream || definition.responseStream || budget === undefined) return new InterceptingCall(nextCall(callOptions));
    budget.deposit();
    let metadata: Metadata;
    let request: unknown;
    return new InterceptingCall(nextCall(callOptions), {
      start(startMetadata, listener, next) {
        metadata = startMetadata;
        let attempt = 1;
        // The caller sees one message and one status: those of the attempt that is kept. They go
        // to the caller's listener directly, since the first attempt may never have had a message.
        let received: unknown;
        const finish = (status: StatusObject) => {
          if (received !== undefined) listener.onReceiveMessage(received);
          listener.onReceiveStatus(status);
        };
        const shouldRetry = (status: StatusObject) => {
          if (status.code === Status.OK || !retryable.has(status.code) || attempt >= maxAttempts) return false;
          if (!budget.tryWithdraw()) {
            options.onEvent?.('retry_budget_exhausted_total');
            return false;
          }
          return true;
        };
        const retry = () => {
          attempt++;
          options.onEvent?.('retries_total');
          clock.setTimer(() => {
            received = undefined;
            const call = nextCall(callOptions);
            call.start(metadata, {
              onReceiveMessage: (message: unknown) => {
                received = message;
              },
              onReceiveStatus: (status: StatusObject) => (shouldRetry(status) ? retry() : finish(status)),
            });
            call.sendMessage(request);
            call.halfClose();
          }, backoff.delayFor(attempt - 1), { keepAlive: true });
        };
        next(metadata, {
          onReceiveMessage: (message: unknown) => {
            received = message;
          },
          onReceiveStatus: (status: StatusObject) => (shouldRetry(status) ? retry() : finish(status)),
        });
      },
      sendMessage(message, next) {
        request = message;
        next(message);
      },
    });
  };
}

function budgetSource(given: GrpcRetryOptions['budget'], clock: Clock): () => RetryBudget | undefined {
  if (typeof given === 'function') return given;
  const budget = given instanceof RetryBudget ? given : new RetryBudget(given ?? {}, clock);
  return () => budget;
}

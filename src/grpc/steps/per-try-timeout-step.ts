/**
 * The service's `perTryTimeout` for unary gRPC calls: each attempt is cancelled at the earlier of the
 * call's deadline and its own start plus `perTryMs`, innermost of the steps as in the HTTP stack.
 * When the call's deadline comes first nothing is added (grpc-js ends the attempt, and the call,
 * with DEADLINE_EXCEEDED at the deadline); otherwise the attempt is cancelled locally with
 * DEADLINE_EXCEEDED, details naming PER_TRY_TIMEOUT, and counted in `per_try_timeouts_total`.
 *
 * Whether a timed-out attempt is retried is the retry step's usual rule: when `grpcStatusCodes`
 * includes DEADLINE_EXCEEDED (4). The HTTP stack retries a per-try timeout only where the route says
 * the request is safe to repeat; for grpcClient, which has no routes, the list of retryable statuses
 * is that statement, and by default (UNAVAILABLE only) a timed-out attempt is not repeated, as a gRPC
 * call on the HTTP stack (a POST with no route) is not.
 *
 * Streaming calls are left to their deadline: they are never retried, and a stream's lifetime is the
 * application's (a watch may rightly last for hours).
 */
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export interface GrpcPerTryTimeoutOptions {
  clock?: Clock;
  onEvent?: (event: 'per_try_timeouts_total') => void;
}

export function perTryTimeoutStep(perTryMs: number, options: GrpcPerTryTimeoutOptions = {}): GrpcCallStep {
  const clock = options.clock ?? systemClock;
  const onEvent = options.onEvent;
  const details = `PER_TRY_TIMEOUT: the attempt took longer than the per-try timeout (${perTryMs} ms); cancelled by meshwork`;
  const expire = (): StatusObject => {
    onEvent?.('per_try_timeouts_total');
    return { code: Status.DEADLINE_EXCEEDED, details, metadata: new Metadata() };
  };
  return {
    role: 'per-try-timeout',
    attempting(call: GrpcCall): boolean {
      if (call.unary && call.remainingMs(clock) > perTryMs) call.limitAttempt(clock, perTryMs, expire);
      return true;
    },
  };
}

/**
 * The service's total `timeout` as the deadline of every call that has none (an earlier deadline of
 * the caller's always wins). It is fixed once per call, before the first attempt, and every attempt
 * is made with it: the deadline covers retries and their backoff, as the HTTP stack's total timeout
 * does, and grpc-js sends what is left of it on as `grpc-timeout`, so it propagates.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export function deadlineStep(totalTimeoutMs: number, clock: Clock = systemClock): GrpcCallStep {
  return {
    role: 'deadline',
    started(call: GrpcCall): boolean {
      // A gRPC deadline is a wall-clock instant (epoch ms: grpc-js takes a number as well as a Date).
      if (call.options.deadline === undefined) call.options = { ...call.options, deadline: clock.wallNow() + totalTimeoutMs };
      return true;
    },
  };
}

/**
 * `limits.rateLimit` for gRPC calls: the HTTP stack's local token bucket (policy/token-bucket.ts),
 * one per grpcClient; a call over the rate is refused at once (limit-refusal.ts), never delayed.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import type { LimitsPolicy } from '../../core/policy.js';
import { TokenBucket } from '../../policy/token-bucket.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';
import { refuseOverLimit } from './limit-refusal.js';

export function rateLimitStep(service: string, limit: NonNullable<LimitsPolicy['rateLimit']>, options: { clock?: Clock; onEvent?: (event: 'rate_limited_total') => void } = {}): GrpcCallStep {
  const clock = options.clock ?? systemClock;
  const bucket = new TokenBucket(limit, clock.now());
  return {
    role: 'rate-limit',
    started(call: GrpcCall): boolean {
      if (bucket.tryTake(clock.now())) return true;
      options.onEvent?.('rate_limited_total');
      return refuseOverLimit(call, 'RATE_LIMITED', `service "${service}": over ${limit.requestsPerSecond} calls/s (burst ${bucket.burst})`);
    },
  };
}

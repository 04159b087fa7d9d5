/**
 * `limits.maxConcurrency` for gRPC calls, the HTTP stack's bulkhead: at most that many calls of the
 * client in flight; the next is refused at once (limit-refusal.ts) rather than queued. A call holds
 * its slot from its start to its end, retries and backoffs included, as an HTTP request does.
 *
 * The count is the grpcClient's own, as each HTTP client has its own: the limit protects the caller's
 * process from piling up calls, and a reload's new policy starts a new count.
 */
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';
import { refuseOverLimit } from './limit-refusal.js';

export function concurrencyLimitStep(service: string, maxConcurrency: number, onEvent?: (event: 'concurrency_limited_total') => void): GrpcCallStep {
  let inFlight = 0;
  return {
    role: 'concurrency-limit',
    started(call: GrpcCall): boolean {
      if (inFlight >= maxConcurrency) {
        onEvent?.('concurrency_limited_total');
        return refuseOverLimit(call, 'CONCURRENCY_LIMITED', `service "${service}": ${maxConcurrency} calls already in flight (limits.maxConcurrency)`);
      }
      inFlight++;
      call.holdsConcurrencySlot = true;
      return true;
    },
    ended(call: GrpcCall): void {
      if (!call.holdsConcurrencySlot) return;
      call.holdsConcurrencySlot = false;
      inFlight--;
    },
  };
}

/**
 * The service's circuit breaker for gRPC calls, per attempt and below the retry step, as in the HTTP
 * stack: every attempt's outcome is counted, and while the circuit is open an attempt is refused at
 * once with UNAVAILABLE (details naming CIRCUIT_OPEN), which ends the call: a refusal is never
 * retried, so retries do not hammer an open circuit. The breaker is the service's
 * (policy/service-breakers.ts), the one its HTTP client counts in, so a service failing over either
 * protocol is failing fast over both.
 *
 * What counts as a failure is policy/grpc-failure-statuses.ts's `isGrpcServiceFailure`. An attempt
 * the caller cancelled counts for nothing: a probe it cancelled leaves the circuit open for the next
 * call to probe, as the HTTP filter does with an aborted probe.
 */
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../core/clock.js';
import { openCircuitMessage, type FailureRateBreaker } from '../../policy/failure-rate-breaker.js';
import { isGrpcServiceFailure } from '../../policy/grpc-failure-statuses.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export interface GrpcBreakerOptions {
  /** Names the service in the refusal's details. */
  service: string;
  clock?: Clock;
  onEvent?: (event: 'breaker_rejected_total' | 'breaker_open_total') => void;
}

/** `breakerOf` is asked before every attempt (a reload may replace the service's breaker); undefined: no breaker. */
export function breakerStep(breakerOf: () => FailureRateBreaker | undefined, options: GrpcBreakerOptions): GrpcCallStep {
  const clock = options.clock ?? systemClock;
  const onEvent = options.onEvent;
  return {
    role: 'circuit-breaker',
    attempting(call: GrpcCall): boolean {
      const breaker = breakerOf();
      if (breaker === undefined) return true;
      const now = clock.now();
      const admission = breaker.admit(now);
      if (admission === 'rejected') {
        onEvent?.('breaker_rejected_total');
        call.end({ code: Status.UNAVAILABLE, details: `CIRCUIT_OPEN: ${openCircuitMessage(breaker, options.service, now)}`, metadata: new Metadata() });
        return false;
      }
      call.breaker = breaker;
      call.breakerAdmission = admission;
      return true;
    },
    attemptEnded(call: GrpcCall, status: StatusObject): boolean {
      const breaker = call.breaker;
      const admission = call.breakerAdmission;
      if (breaker === undefined || admission === undefined) return false;
      call.breakerAdmission = undefined;
      const failed = isGrpcServiceFailure(status.code);
      const opened = admission === 'probe' ? breaker.probeSettled(failed ? 'failure' : 'success', clock.now()) : breaker.record(failed, clock.now());
      if (opened) onEvent?.('breaker_open_total');
      return false;
    },
    ended(call: GrpcCall): void {
      // An attempt still unrecorded here was cancelled by the caller: it proves nothing.
      if (call.breakerAdmission === 'probe') call.breaker!.probeSettled('aborted', clock.now());
      call.breakerAdmission = undefined;
    },
  };
}

/**
 * The service's `faults` for gRPC calls, with the HTTP filter's Istio semantics: the first fault
 * whose match applies (matched against the method path and the call's metadata) may delay the call,
 * then may abort it with `grpcStatus` (or the gRPC status for its `httpStatus`), before any attempt
 * is made. It comes before the retry step, so an injected failure is never retried; a delay counts
 * against the call's deadline like any other wait.
 */
import { Metadata, type StatusObject } from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../../core/clock.js';
import type { FaultPolicy } from '../../core/policy.js';
import type { MeshRequest } from '../../http/http-types.js';
import { grpcStatusForHttp } from '../../policy/grpc-over-http.js';
import { compileFaults } from '../../policy/compiled-faults.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export interface GrpcFaultOptions {
  clock?: Clock;
  random?: Random;
  onEvent?: (event: 'faults_delayed_total' | 'faults_aborted_total') => void;
}

export function faultStep(faults: FaultPolicy[], options: GrpcFaultOptions = {}): GrpcCallStep {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const compiled = compileFaults(faults, 'faults');
  const abortWith = (call: GrpcCall, abort: NonNullable<FaultPolicy['abort']>) => {
    options.onEvent?.('faults_aborted_total');
    const status: StatusObject = { code: abort.grpcStatus ?? grpcStatusForHttp(abort.httpStatus), details: 'fault injected by meshwork', metadata: new Metadata() };
    call.end(status);
  };
  return {
    role: 'fault',
    started(call: GrpcCall): boolean {
      // The request a match sees is only built when some fault has a match to test.
      let request: MeshRequest | undefined;
      const fault = compiled.find((f) => f.matches === undefined || f.matches((request ??= { method: 'POST', path: call.method, headers: call.metadata.getMap() } as unknown as MeshRequest)));
      if (fault === undefined) return true;
      const { delay, abort } = fault;
      if (delay !== undefined && random() * 100 < delay.percent) {
        options.onEvent?.('faults_delayed_total');
        call.wait(clock, delay.fixedDelayMs, () => {
          if (abort !== undefined && random() * 100 < abort.percent) abortWith(call, abort);
          else call.resume();
        });
        return false;
      }
      if (abort !== undefined && random() * 100 < abort.percent) {
        abortWith(call, abort);
        return false;
      }
      return true;
    },
  };
}

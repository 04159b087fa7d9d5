/**
 * The service's `faults` for gRPC calls, with the HTTP filter's Istio semantics: the first fault
 * whose match applies (matched against the method path and the call's metadata) may delay the call,
 * then may abort it with `grpcStatus` (or the gRPC status for its `httpStatus`). It runs outside the
 * retry interceptor, so an injected failure is never retried.
 */
import { InterceptingCall, Metadata, type Interceptor } from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../core/clock.js';
import type { FaultPolicy } from '../core/policy.js';
import type { MeshRequest } from '../http/http-types.js';
import { grpcStatusForHttp } from '../policy/grpc-over-http.js';
import { compileRequestMatch } from '../policy/request-match.js';

export interface GrpcFaultOptions {
  clock?: Clock;
  random?: Random;
  onEvent?: (event: 'faults_delayed_total' | 'faults_aborted_total') => void;
}

export function grpcFaultInterceptor(faults: FaultPolicy[], options: GrpcFaultOptions = {}): Interceptor {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const compiled = faults.map((f, i) => ({ ...f, matches: f.match ? compileRequestMatch(f.match, `faults[${i}].match`) : () => true }));
  return (callOptions, nextCall) => {
    if (compiled.length === 0) return new InterceptingCall(nextCall(callOptions));
    const path = callOptions.method_definition.path;
    return new InterceptingCall(nextCall(callOptions), {
      start(metadata, listener, next) {
        const request = { method: 'POST', path, headers: metadata.getMap() } as unknown as MeshRequest;
        const fault = compiled.find((f) => f.matches(request));
        const delayed = fault?.delay !== undefined && random() * 100 < fault.delay.percent;
        const aborted = fault?.abort !== undefined && random() * 100 < fault.abort.percent;
        const proceed = () => {
          if (aborted && fault?.abort) {
            options.onEvent?.('faults_aborted_total');
            listener.onReceiveStatus({ code: fault.abort.grpcStatus ?? grpcStatusForHttp(fault.abort.httpStatus), details: 'fault injected by meshwork', metadata: new Metadata() });
            return;
          }
          next(metadata, listener);
        };
        if (delayed && fault?.delay) {
          options.onEvent?.('faults_delayed_total');
          clock.setTimer(proceed, fault.delay.fixedDelayMs, { keepAlive: true });
        } else proceed();
      },
      sendMessage(message, next) {
        next(message);
      },
      halfClose(next) {
        next();
      },
    });
  };
}

/**
 * Each step of the policy as an interceptor of its own, for code that composes grpc-js
 * interceptors by hand (these were meshwork/grpc's interceptors before grpcClient ran them all in
 * one layer). Each is a layer per call; grpcClient's single policy interceptor is cheaper.
 */
import type { Interceptor } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../core/clock.js';
import type { FaultPolicy } from '../core/policy.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { stepsInterceptor } from './policy-interceptor.js';
import { deadlineStep } from './steps/deadline-step.js';
import { faultStep, type GrpcFaultOptions } from './steps/fault-step.js';
import { metricsStep } from './steps/metrics-step.js';
import { retryStep, type GrpcRetryOptions } from './steps/retry-step.js';
import { traceStep } from './steps/trace-step.js';

/** The total timeout as the deadline of calls that have none; passes calls through when undefined. */
export function grpcDeadlineInterceptor(totalTimeoutMs: number | undefined): Interceptor {
  return stepsInterceptor(totalTimeoutMs === undefined ? [] : [deadlineStep(totalTimeoutMs)]);
}

/** A span per call when there is an active span, its context sent in the metadata. */
export function grpcTracingInterceptor(service: string): Interceptor {
  return stepsInterceptor([traceStep(service)]);
}

/** Golden metrics with `grpc_status`, by method, into `metrics`. */
export function grpcMetricsInterceptor(metrics: MeshMetrics, authority: string, clock: Clock = systemClock): Interceptor {
  return stepsInterceptor([metricsStep(metrics, authority, clock)]);
}

/** Injected delays and aborts (as gRPC statuses); put it before the retry interceptor so they are never retried. */
export function grpcFaultInterceptor(faults: FaultPolicy[], options: GrpcFaultOptions = {}): Interceptor {
  return stepsInterceptor(faults.length === 0 ? [] : [faultStep(faults, options)]);
}

/** Unary retries within a retry budget, with backoff, under the call's deadline. */
export function grpcRetryInterceptor(options: GrpcRetryOptions = {}): Interceptor {
  return stepsInterceptor([retryStep(options)]);
}

/**
 * The one interceptor meshwork adds to a grpc-js client. Each call becomes one PolicyCall that runs
 * the service's policy steps (policy-steps.ts) in a single layer, instead of a grpc-js layer per
 * concern. The steps are built once per policy; a config reload that changes the service's
 * settings is picked up by the next call, as the HTTP client picks it up by the next request.
 */
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import type { MeshClient } from '../client/mesh-client.js';
import type { ServiceSettings } from '../config/service-settings.js';
import { GrpcCallPipeline, type GrpcCallStep } from './grpc-call-step.js';
import { PolicyCall } from './policy-call.js';
import { grpcPolicySteps, type GrpcPolicyEnvironment } from './policy-steps.js';

/** An interceptor running `pipelineOf()`'s steps on every call (asked per call, so it may change). */
export function grpcPolicyInterceptor(pipelineOf: () => GrpcCallPipeline): Interceptor {
  return (options, nextCall) => {
    const pipeline = pipelineOf();
    if (pipeline.steps.length === 0) return new InterceptingCall(nextCall(options));
    // grpc-js only calls InterceptingCallInterface's methods on what an interceptor returns; the
    // declared return type is its InterceptingCall class, whose private fields make it nominal.
    return new PolicyCall(pipeline, options, nextCall) as unknown as InterceptingCall;
  };
}

/** An interceptor running these steps on every call. */
export function stepsInterceptor(steps: readonly GrpcCallStep[]): Interceptor {
  const pipeline = new GrpcCallPipeline(steps);
  return grpcPolicyInterceptor(() => pipeline);
}

/** The interceptor applying `service`'s policy as the mesh has it now (grpcClient's). */
export function servicePolicyInterceptor(service: MeshClient, env: Omit<GrpcPolicyEnvironment, 'retryBudget' | 'breaker'>): Interceptor {
  const environment: GrpcPolicyEnvironment = { ...env, retryBudget: () => service.retryBudget, breaker: () => service.circuitBreaker };
  const build = (settings: ServiceSettings) => new GrpcCallPipeline(grpcPolicySteps(service.name, settings.policy, environment));
  let settings = service.settings;
  let pipeline = build(settings);
  return grpcPolicyInterceptor(() => {
    // Settings are replaced, never changed in place, so identity says whether a reload changed them.
    const current = service.settings;
    if (current !== settings) {
      settings = current;
      pipeline = build(current);
    }
    return pipeline;
  });
}

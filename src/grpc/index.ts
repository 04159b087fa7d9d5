/**
 * `meshwork/grpc`: gRPC through the mesh with @grpc/grpc-js (a peer dependency, loaded only by
 * this entry point). `grpcClient(mesh, GreeterClient, 'greeter')` makes a grpc-js client whose
 * channel resolves `mesh:///greeter` through the mesh's discovery, balances with the service's
 * balancer (P2C peak-EWMA by default), and applies the service's policy to every call in one
 * interceptor (policy-steps.ts): a span continuing the caller's trace, golden metrics with
 * `grpc_status` in `mesh.metrics`, the service's total timeout as the default deadline, faults as
 * gRPC statuses, and retries of UNAVAILABLE unary calls within the service's retry budget (the one
 * its HTTP client draws on).
 */
import { credentials, type ChannelCredentials, type Client, type ClientOptions } from '@grpc/grpc-js';
import type { Mesh } from '../client/create-mesh.js';
import { MESH_SCHEME, registerMeshResolver } from './mesh-name-resolver.js';
import { P2C_EWMA, P2C_LEAST_REQUEST, registerMeshBalancers } from './p2c-load-balancer.js';
import { servicePolicyInterceptor } from './policy-interceptor.js';
import { MeshError } from '../core/errors.js';
import type { BalancerKind } from '../config/service-settings.js';

export { registerMeshResolver, MESH_SCHEME } from './mesh-name-resolver.js';
export { registerMeshBalancers, P2C_EWMA, P2C_LEAST_REQUEST } from './p2c-load-balancer.js';
export { grpcDeadlineInterceptor, grpcFaultInterceptor, grpcMetricsInterceptor, grpcRetryInterceptor, grpcTracingInterceptor } from './single-step-interceptors.js';
export type { GrpcRetryOptions } from './steps/retry-step.js';
export type { GrpcFaultOptions } from './steps/fault-step.js';

const POLICY: Partial<Record<BalancerKind, string>> = { 'p2c-ewma': P2C_EWMA, 'p2c-least-request': P2C_LEAST_REQUEST, 'round-robin': 'round_robin' };

/** The grpc-js policy for a service's balancer; the others balance HTTP requests only, and say so rather than balance otherwise. */
function grpcPolicyFor(service: string, balancer: BalancerKind): string {
  const policy = POLICY[balancer];
  if (policy === undefined) throw new MeshError('INVALID_OPTIONS', `grpcClient("${service}"): balancer ${balancer} is not available to gRPC channels; use p2c-ewma, p2c-least-request or round-robin for a service called over gRPC`, { service });
  return policy;
}

type GrpcClientConstructor<T extends Client> = new (address: string, credentials: ChannelCredentials, options?: ClientOptions) => T;

export interface GrpcClientOptions {
  /** Default: insecure (plaintext h2c), as between a Node app and its sidecar or in a trusted network. */
  credentials?: ChannelCredentials;
  /** More channel options; interceptors given here run before the mesh's policy. */
  channelOptions?: ClientOptions;
}

/** A grpc-js client for `service` of `mesh`, with the mesh's discovery, balancing, retries and metrics. */
export function grpcClient<T extends Client>(mesh: Mesh, Constructor: GrpcClientConstructor<T>, service: string, options: GrpcClientOptions = {}): T {
  const handle = mesh.client(service);
  // grpc-js keeps one resolver per scheme per process: the most recent mesh to make a client is the
  // one `mesh:///` targets resolve through.
  registerMeshResolver({ discoveryOf: (name) => mesh.discoveryOf(name), ...(mesh.baseDir ? { baseDir: mesh.baseDir } : {}) });
  registerMeshBalancers();
  const policyName = grpcPolicyFor(handle.name, handle.settings.balancer);
  // The balancer is the channel's, fixed when it is made; the rest of the policy is applied per call.
  const policy = servicePolicyInterceptor(handle, { metrics: mesh.metrics });
  return new Constructor(`${MESH_SCHEME}:///${handle.name}`, options.credentials ?? credentials.createInsecure(), {
    ...options.channelOptions,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policyName]: {} }] }),
    interceptors: [...(options.channelOptions?.interceptors ?? []), policy],
  });
}

/**
 * `meshwork/grpc`: gRPC through the mesh with @grpc/grpc-js (a peer dependency, loaded only by
 * this entry point). `grpcClient(mesh, GreeterClient, 'greeter')` makes a grpc-js client whose
 * channel resolves `mesh:///greeter` through the mesh's discovery, balances with the service's
 * balancer (P2C peak-EWMA by default), retries UNAVAILABLE unary calls within the service's retry
 * budget (the one its HTTP client draws on), gives calls without a deadline the service's total
 * timeout, injects the service's faults as gRPC statuses, continues the caller's trace, and records
 * golden metrics with `grpc_status` in `mesh.metrics` (its registry: `mesh.registry`).
 */
import { credentials, type ChannelCredentials, type Client, type ClientOptions } from '@grpc/grpc-js';
import type { Mesh } from '../client/create-mesh.js';
import { MESH_SCHEME, registerMeshResolver } from './mesh-name-resolver.js';
import { grpcDeadlineInterceptor, grpcTracingInterceptor } from './deadline-tracing-interceptor.js';
import { grpcFaultInterceptor } from './fault-interceptor.js';
import { grpcMetricsInterceptor } from './metrics-interceptor.js';
import { P2C_EWMA, P2C_LEAST_REQUEST, registerMeshBalancers } from './p2c-load-balancer.js';
import { grpcRetryInterceptor } from './retry-interceptor.js';
import { MeshError } from '../core/errors.js';
import type { BalancerKind } from '../config/service-settings.js';

export { registerMeshResolver, MESH_SCHEME } from './mesh-name-resolver.js';
export { registerMeshBalancers, P2C_EWMA, P2C_LEAST_REQUEST } from './p2c-load-balancer.js';
export { grpcRetryInterceptor } from './retry-interceptor.js';
export type { GrpcRetryOptions } from './retry-interceptor.js';
export { grpcMetricsInterceptor } from './metrics-interceptor.js';
export { grpcFaultInterceptor } from './fault-interceptor.js';
export { grpcDeadlineInterceptor, grpcTracingInterceptor } from './deadline-tracing-interceptor.js';

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
  /** More channel options; interceptors given here run before the mesh's. */
  channelOptions?: ClientOptions;
}

/** A grpc-js client for `service` of `mesh`, with the mesh's discovery, balancing, retries and metrics. */
export function grpcClient<T extends Client>(mesh: Mesh, Constructor: GrpcClientConstructor<T>, service: string, options: GrpcClientOptions = {}): T {
  const handle = mesh.client(service);
  // grpc-js keeps one resolver per scheme per process: the most recent mesh to make a client is the
  // one `mesh:///` targets resolve through.
  registerMeshResolver({ discoveryOf: (name) => mesh.discoveryOf(name), ...(mesh.baseDir ? { baseDir: mesh.baseDir } : {}) });
  registerMeshBalancers();
  const settings = handle.settings;
  const policyName = grpcPolicyFor(handle.name, settings.balancer);
  const retries = settings.policy.retries;
  const metrics = mesh.metrics;
  const interceptors = [
    ...(options.channelOptions?.interceptors ?? []),
    // Each interceptor is a layer every call goes through: only the ones with work to do are added.
    ...(settings.policy.timeouts?.totalMs !== undefined ? [grpcDeadlineInterceptor(settings.policy.timeouts.totalMs)] : []),
    grpcTracingInterceptor(handle.name),
    ...(metrics ? [grpcMetricsInterceptor(metrics, handle.name)] : []),
    // Outside retries, so an injected failure is never retried (as for HTTP).
    ...(settings.policy.faults?.length ? [grpcFaultInterceptor(settings.policy.faults, metrics ? { onEvent: (e) => metrics.stackEvent(handle.name, e) } : {})] : []),
    // The service's own budget, asked per call: shared with its HTTP client, and replaced by a reload that changes it.
    ...(retries === false ? [] : [grpcRetryInterceptor({ budget: () => handle.retryBudget, ...(retries?.backoff ? { backoff: retries.backoff } : {}), ...(retries?.maxAttempts ? { maxAttempts: retries.maxAttempts } : {}), ...(retries?.grpcStatusCodes ? { retryableCodes: retries.grpcStatusCodes } : {}), ...(metrics ? { onEvent: (e) => metrics.stackEvent(handle.name, e) } : {}) })]),
  ];
  return new Constructor(`${MESH_SCHEME}:///${handle.name}`, options.credentials ?? credentials.createInsecure(), {
    ...options.channelOptions,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policyName]: {} }] }),
    interceptors,
  });
}

/**
 * `meshwork/grpc`: gRPC through the mesh with @grpc/grpc-js (a peer dependency, loaded only by
 * this entry point). `grpcClient(mesh, GreeterClient, 'greeter')` makes a grpc-js client whose
 * channel resolves `mesh:///greeter` through the mesh's discovery (each split destination's, when
 * the service has a split), balances with the service's balancer (P2C peak-EWMA by default, with
 * outlier ejection and the split's weights), and applies the rest of the service's policy to every
 * call in one interceptor (policy-steps.ts), in the HTTP stack's order: trace, metrics, limits,
 * deadline, faults, retries on the service's retry budget, then per attempt the service's circuit
 * breaker and the per-try timeout. The budget and the breaker are the ones its HTTP client uses.
 */
import { credentials, type ChannelCredentials, type Client, type ClientOptions } from '@grpc/grpc-js';
import type { Mesh } from '../client/create-mesh.js';
import { authorityDiscovery } from '../client/mesh-client.js';
import { MESH_SCHEME, registerMeshResolver } from './mesh-name-resolver.js';
import { OUTLIER_EVENTS_OPTION, P2C_EWMA, P2C_LEAST_REQUEST, registerMeshBalancers } from './p2c-load-balancer.js';
import { servicePolicyInterceptor } from './policy-interceptor.js';
import { MeshError } from '../core/errors.js';
import type { BalancerKind } from '../config/service-settings.js';
import type { SplitDestination } from '../core/policy.js';

export { registerMeshResolver, MESH_SCHEME } from './mesh-name-resolver.js';
export { registerMeshBalancers, P2C_EWMA, P2C_LEAST_REQUEST, OUTLIER_EVENTS_OPTION } from './p2c-load-balancer.js';
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

/**
 * A split is picked by meshwork's P2C balancers (grpc-js's round_robin does not read it), over each
 * destination's whole endpoint set (label subsets select endpoints per HTTP request): refused rather
 * than balanced otherwise.
 */
function refuseSplitsChannelsCannotTake(service: string, balancer: BalancerKind, split: readonly SplitDestination[] | undefined): void {
  if (split === undefined || split.length === 0) return;
  if (balancer === 'round-robin') throw new MeshError('INVALID_OPTIONS', `grpcClient("${service}"): a traffic split is picked by the p2c-ewma and p2c-least-request balancers, not round-robin; choose one of them for a split service called over gRPC`, { service });
  const withSubset = split.find((d) => d.subset !== undefined);
  if (withSubset) throw new MeshError('INVALID_OPTIONS', `grpcClient("${service}"): split destination "${withSubset.service}" names subset "${withSubset.subset}", which gRPC channels do not select; split between services for a service called over gRPC`, { service });
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
  registerMeshResolver({
    discoveryOf: (name) => mesh.discoveryOf(name),
    splitOf: (name) => (mesh.serviceFor(name) === undefined ? undefined : mesh.client(name).settings.policy.split),
    // As the HTTP client's destinations: a service of the mesh, else an authority resolved by DNS.
    destinationDiscovery: (destination) => mesh.discoveryOf(destination) ?? authorityDiscovery(destination),
    ...(mesh.baseDir ? { baseDir: mesh.baseDir } : {}),
  });
  // Like the resolver, the balancers are the process's: the most recent mesh's clock times their ejections.
  registerMeshBalancers({ clock: mesh.clock });
  // The balancer and its outlier ejection are the channel's, fixed when it is made; the rest of the policy is applied per call.
  const policy = servicePolicyInterceptor(handle, { metrics: mesh.metrics, clock: mesh.clock });
  const policyName = grpcPolicyFor(handle.name, handle.settings.balancer);
  refuseSplitsChannelsCannotTake(handle.name, handle.settings.balancer, handle.settings.policy.split);
  const { balancer, outlierDetection } = handle.settings;
  const metrics = mesh.metrics;
  return new Constructor(`${MESH_SCHEME}:///${handle.name}`, options.credentials ?? credentials.createInsecure(), {
    ...options.channelOptions,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policyName]: balancer === 'round-robin' ? {} : { outlierDetection } }] }),
    ...(metrics ? { [OUTLIER_EVENTS_OPTION]: () => metrics.stackEvent(handle.name, 'endpoints_ejected_total') } : {}),
    interceptors: [...(options.channelOptions?.interceptors ?? []), policy],
  });
}

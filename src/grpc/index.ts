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

export { registerMeshResolver, MESH_SCHEME } from './mesh-name-resolver.js';
export { registerMeshBalancers, P2C_EWMA, P2C_LEAST_REQUEST, OUTLIER_EVENTS_OPTION } from './p2c-load-balancer.js';
export { grpcDeadlineInterceptor, grpcFaultInterceptor, grpcMetricsInterceptor, grpcRetryInterceptor, grpcTracingInterceptor } from './single-step-interceptors.js';
export type { GrpcRetryOptions } from './steps/retry-step.js';
export type { GrpcFaultOptions } from './steps/fault-step.js';

const POLICY = { 'p2c-ewma': P2C_EWMA, 'p2c-least-request': P2C_LEAST_REQUEST, 'round-robin': 'round_robin' } as const;

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
  const { balancer, outlierDetection } = handle.settings;
  const metrics = mesh.metrics;
  return new Constructor(`${MESH_SCHEME}:///${handle.name}`, options.credentials ?? credentials.createInsecure(), {
    ...options.channelOptions,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [POLICY[balancer]]: balancer === 'round-robin' ? {} : { outlierDetection } }] }),
    ...(metrics ? { [OUTLIER_EVENTS_OPTION]: () => metrics.stackEvent(handle.name, 'endpoints_ejected_total') } : {}),
    interceptors: [...(options.channelOptions?.interceptors ?? []), policy],
  });
}

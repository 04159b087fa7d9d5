/**
 * meshwork's public API. Everything a user imports comes from here; the rest of src/ is internal and
 * may change between minor versions.
 */
export { meshClient } from './client/mesh-client.js';
export type { MeshClient, EndpointStatus, ClientStatus } from './client/mesh-client.js';
export { createMesh } from './client/create-mesh.js';
export type { Mesh, MeshOptions } from './client/create-mesh.js';
export type { EgressConfig } from './config/egress-schema.js';
export type { EgressDecision } from './client/egress-policy.js';
export { MeshDispatcher } from './client/mesh-dispatcher.js';
export type { MeshClientOptions, ClientCodeOptions, BalancerKind } from './client/client-options.js';
export type { MeshRequest, MeshResponse, HttpHeaders } from './http/http-types.js';
export { defaultClientStack } from './client/default-stack.js';
export type { HttpStack, HttpModule, HttpService } from './client/default-stack.js';
export { ServiceName, ClockParam, RandomParam, LoggerParam, CountersParam } from './core/core-params.js';
export { Counters } from './core/counters.js';
export { MeshMetrics, LATENCY_BUCKETS_MS } from './telemetry/mesh-metrics.js';
export type { Direction, Classification } from './telemetry/mesh-metrics.js';
export { RequestObserver } from './telemetry/request-observer.js';
export type { CompletedRequest, RequestListener } from './telemetry/request-observer.js';
export type { MeshAdmin, MeshAdminOptions } from './admin/mesh-admin.js';
export type { MeshSummary, ServiceSummary, RouteSummary, EndpointSummary, EdgeSummary } from './admin/mesh-summary.js';
export type { TapEvent, TapSkipped } from './admin/tap-bus.js';
export { MetricsParam } from './filters/metrics.js';
export { DirectionParam } from './core/core-params.js';
export type * from './core/policy.js';

export { MeshError, isMeshError } from './core/errors.js';
export type { MeshErrorCode } from './core/errors.js';
export { Stack, filterModule } from './core/stack.js';
export type { StackModule } from './core/stack.js';
export { Param, Params } from './core/params.js';
export { applyFilter, newCallContext } from './core/service.js';
export type { Service, Filter, CallContext } from './core/service.js';
export { systemClock, ManualClock, seededRandom, systemRandom } from './core/clock.js';
export type { Clock, EpochMs, MonotonicMs, Random, TimerHandle } from './core/clock.js';
export type { Logger, LogFields } from './core/logger.js';
export { Watchable } from './core/watchable.js';

export type { EndpointAddress } from './discovery/endpoint-address.js';
export type { Resolver, ResolverListener } from './discovery/resolver.js';
export type { DiscoverySpec } from './discovery/parse-discovery.js';
export type { OutlierDetectionOptions } from './balancer/outlier-detector.js';
export type { PeakEwmaOptions } from './balancer/peak-ewma-load.js';

export { IdentitySource } from './tls/identity-source.js';
export type { IdentityFiles, LoadedIdentity, IdentitySourceOptions } from './tls/identity-source.js';
export { parseSpiffeId, isSpiffeId, spiffeIdMatches } from './tls/spiffe-id.js';
export type { SpiffeId } from './tls/spiffe-id.js';

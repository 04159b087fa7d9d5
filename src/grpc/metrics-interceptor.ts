/**
 * Golden metrics for gRPC calls: `request_total` when a call starts and `response_total` /
 * `response_latency_ms` when it ends, labelled with the method as `route` and with `grpc_status`
 * (classification: OK is a success, any other status a failure), into the mesh's registry.
 */
import { InterceptingCall, type Interceptor, type StatusObject } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../core/clock.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';

export function grpcMetricsInterceptor(metrics: MeshMetrics, authority: string, clock: Clock = systemClock): Interceptor {
  return (options, nextCall) => {
    const route = options.method_definition.path;
    const started = clock.now();
    metrics.requestStarted('outbound', authority, route);
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveStatus: (status: StatusObject, nextStatus: (s: StatusObject) => void) => {
            metrics.grpcResponded('outbound', authority, route, status.code, clock.now() - started);
            nextStatus(status);
          },
        });
        void listener;
      },
    });
  };
}

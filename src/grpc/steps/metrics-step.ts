/**
 * Golden metrics for gRPC calls: `request_total` when a call starts and `response_total` /
 * `response_latency_ms` when it ends, labelled with the method as `route` and with `grpc_status`
 * (classification: OK is a success, any other status a failure). The series of each method are
 * found once and kept, so a call costs a map lookup and two number bumps.
 */
import type { StatusObject } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { MeshMetrics, RouteMetrics } from '../../telemetry/mesh-metrics.js';
import type { GrpcCall, GrpcCallStep } from '../grpc-call-step.js';

export function metricsStep(metrics: MeshMetrics, authority: string, clock: Clock = systemClock): GrpcCallStep {
  const byMethod = new Map<string, RouteMetrics>();
  return {
    role: 'metrics',
    started(call: GrpcCall): boolean {
      let series = byMethod.get(call.method);
      if (series === undefined) {
        series = metrics.route('outbound', authority, call.method);
        byMethod.set(call.method, series);
      }
      call.routeMetrics = series;
      call.startedAt = clock.now();
      series.started();
      return true;
    },
    ended(call: GrpcCall, status: StatusObject): void {
      call.routeMetrics?.grpcEnded(status.code, clock.now() - call.startedAt);
    },
  };
}

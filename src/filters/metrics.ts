/**
 * Records the golden metrics of every request that goes through a client: `request_total` when it
 * starts, then `response_total` and `response_latency_ms` (time to response headers, as Linkerd
 * measures it) with the response's classification. It sits just below the route filter so that
 * every count carries the matched route, and above everything that can refuse or retry, so one
 * application request counts once however many attempts it took.
 *
 * gRPC reports failure in `grpc-status`, usually in the trailers: such a response is counted when
 * its body ends, classified by that status.
 */
import { ClockParam } from '../core/core-params.js';
import { isMeshError } from '../core/errors.js';
import { Param } from '../core/params.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule } from '../client/default-stack.js';
import type { MeshResponse } from '../client/http-types.js';
import { type Classification, type Direction, MeshMetrics, type RouteMetrics } from '../telemetry/mesh-metrics.js';
import { isGrpcContentType } from './grpc-over-http.js';
import { isFailureResponse } from './response-classifier.js';

/** Where a client records its metrics; without one, the filter is left out of the stack. */
export const MetricsParam = new Param<MeshMetrics | undefined>('metrics', undefined);
/** Which way the requests of this stack go, as the `direction` label says. */
export const DirectionParam = new Param<Direction>('direction', 'outbound');

export const metricsModule: HttpModule = {
  role: 'metrics',
  description: 'records request_total, response_total and response_latency_ms per service and route',
  make(params, next) {
    const metrics = params.get(MetricsParam);
    if (metrics === undefined) return next;
    const clock = params.get(ClockParam);
    const direction = params.get(DirectionParam);
    return {
      call(req, ctx) {
        const started = clock.now();
        const series = metrics.route(direction, req.authority ?? ctx.service, ctx.route, req.peer);
        series.started();
        return next.call(req, ctx).then(
          (res) => {
            recordResponse(series, ctx, res, clock.now() - started);
            return res;
          },
          (err: unknown) => {
            series.failed(isMeshError(err) ? err.code : 'ERROR');
            throw err;
          },
        );
      },
      close: () => next.close(),
    };
  },
};

function recordResponse(series: RouteMetrics, ctx: CallContext, res: MeshResponse, latencyMs: number): void {
  const grpc = grpcStatusOf(res);
  if (grpc === 'in-trailers') {
    res.onSettled((error) => series.responded(res.statusCode, error === undefined ? classifyGrpc(res.trailers['grpc-status']) : 'failure', latencyMs));
    return;
  }
  const classification: Classification =
    grpc !== undefined ? classifyGrpc(grpc) : isFailureResponse(res.statusCode, ctx.routePolicy) ? 'failure' : 'success';
  series.responded(res.statusCode, classification, latencyMs);
}

/** The grpc-status of a gRPC response: in its headers (trailers-only), to come in its trailers, or not gRPC. */
function grpcStatusOf(res: MeshResponse): string | 'in-trailers' | undefined {
  if (!isGrpcContentType(res.header('content-type'))) return undefined;
  const status = res.header('grpc-status');
  if (typeof status === 'string') return status;
  return res.statusCode === 200 ? 'in-trailers' : String(res.statusCode);
}

function classifyGrpc(status: unknown): Classification {
  return status === '0' ? 'success' : 'failure';
}

/**
 * Records the golden metrics of every request that goes through a client: `request_total` when it
 * starts, then `response_total` and `response_latency_ms` (time to response headers, as Linkerd
 * measures it) with the response's classification. It sits just below the route filter so that
 * every count carries the matched route, and above everything that can refuse or retry, so one
 * application request counts once however many attempts it took.
 *
 * gRPC reports failure in `grpc-status`, usually in the trailers: such a response is counted when
 * its body ends, classified by that status.
 *
 * Each finished request is also reported to the metrics' RequestObserver (the admin's stats windows
 * and tap), only while something listens there.
 */
import { ClockParam, DirectionParam, type Direction } from '../core/core-params.js';
import { isMeshError } from '../core/errors.js';
import { Param } from '../core/params.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule } from '../http/http-stack.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { type Classification, MeshMetrics, type RouteMetrics } from '../telemetry/mesh-metrics.js';
import { isGrpcContentType } from '../policy/grpc-over-http.js';
import { isFailureResponse } from '../policy/response-classifier.js';

/** Where a client records its metrics; without one, the filter is left out of the stack. */
export const MetricsParam = new Param<MeshMetrics | undefined>('metrics', undefined);

export const metricsModule: HttpModule = {
  role: 'metrics',
  description: 'records request_total, response_total and response_latency_ms per service and route',
  params: [MetricsParam, ClockParam, DirectionParam],
  make(params, next) {
    const metrics = params.get(MetricsParam);
    if (metrics === undefined) return next;
    const clock = params.get(ClockParam);
    const clientDirection = params.get(DirectionParam);
    const observer = metrics.observer;
    // The one place the request path tells the admin's stats and tap about a finished request;
    // callers check `observer.active` first, so nothing is built while no one listens.
    const observe = (req: MeshRequest, ctx: CallContext, direction: Direction, authority: string, latencyMs: number, response: MeshResponse | undefined, classification: Classification, grpcStatus: string | undefined, error: string | undefined) =>
      observer.completed({
        at: clock.now(),
        direction,
        service: ctx.service,
        authority,
        route: ctx.route,
        request: req,
        response,
        endpoint: ctx.endpoint,
        attempts: ctx.attempt,
        statusCode: response?.statusCode,
        grpcStatus: grpcStatus === undefined ? undefined : Number(grpcStatus),
        classification,
        error,
        latencyMs,
        peer: req.peer,
      });
    return {
      call(req, ctx) {
        const started = clock.now();
        const authority = req.authority ?? ctx.service;
        const direction = req.direction ?? clientDirection;
        const series = metrics.route(direction, authority, ctx.route, req.peer);
        series.started();
        return next.call(req, ctx).then(
          (res) => {
            const latencyMs = clock.now() - started;
            const report: Report | undefined = observer.active ? (classification, grpc) => observe(req, ctx, direction, authority, latencyMs, res, classification, grpc, undefined) : undefined;
            recordResponse(series, ctx, res, latencyMs, report);
            return res;
          },
          (err: unknown) => {
            const code = isMeshError(err) ? err.code : 'ERROR';
            series.failed(code);
            if (observer.active) observe(req, ctx, direction, authority, clock.now() - started, undefined, 'failure', undefined, code);
            throw err;
          },
        );
      },
      close: () => next.close(),
    };
  },
};

/** Tells the observer how a response was classified (and its gRPC status, if it has one). */
type Report = (classification: Classification, grpcStatus: string | undefined) => void;

function recordResponse(series: RouteMetrics, ctx: CallContext, res: MeshResponse, latencyMs: number, report: Report | undefined): void {
  const grpc = grpcStatusOf(res);
  if (grpc === 'in-trailers') {
    const finish = (classification: Classification, status: string | undefined) => {
      series.responded(res.statusCode, classification, latencyMs);
      report?.(classification, status);
    };
    res.onSettled((error) => {
      const status = error === undefined ? res.trailers['grpc-status'] : undefined;
      finish(error === undefined ? classifyGrpc(status) : 'failure', typeof status === 'string' ? status : undefined);
    });
    return;
  }
  const classification: Classification =
    grpc !== undefined ? classifyGrpc(grpc) : isFailureResponse(res.statusCode, ctx.routePolicy) ? 'failure' : 'success';
  series.responded(res.statusCode, classification, latencyMs);
  report?.(classification, grpc);
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

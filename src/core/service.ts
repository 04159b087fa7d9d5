/**
 * The spine, after Finagle's "Your Server as a Function": a Service turns a request into a promised
 * response; a Filter wraps a Service without knowing its neighbours. Everything meshwork does to a
 * call is a Filter or a Service composed by a Stack.
 */
import type { Context } from '@opentelemetry/api';
import type { RoutePolicy } from './policy.js';

export interface CallContext {
  /** The logical service being called (the meshClient name). */
  readonly service: string;
  /** Aborted when the caller gives up; every layer must stop work when it fires. */
  readonly signal: AbortSignal | undefined;
  /** Absolute deadline on the mesh clock (ms), if any layer set one. */
  deadline: number | undefined;
  /** The matched route name, once routing has run. */
  route: string | undefined;
  /** The matched route's policy (timeout, retryability, response classes), once routing has run. */
  routePolicy: RoutePolicy | undefined;
  /** The traffic-split destination (a service name) chosen for the current attempt. */
  destination: string | undefined;
  /** The subset of the destination's endpoints (by name) the current attempt may go to; all when undefined. */
  subset: string | undefined;
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: number;
  /** The endpoint (`host:port`) chosen by the balancer for the current attempt. */
  endpoint: string | undefined;
  /** An endpoint the balancer should not pick for this attempt if it has another (a hedge's first attempt is there). */
  avoidEndpoint: string | undefined;
  /** The OpenTelemetry context holding the request's span, once the tracing filter has run. */
  trace: Context | undefined;
}

export interface Service<Req, Res> {
  call(req: Req, ctx: CallContext): Promise<Res>;
  close(): Promise<void>;
}

export type Filter<Req, Res> = (req: Req, ctx: CallContext, next: Service<Req, Res>) => Promise<Res>;

/** Wraps `next` with `filter`; closing the result closes `next`. */
export function applyFilter<Req, Res>(filter: Filter<Req, Res>, next: Service<Req, Res>): Service<Req, Res> {
  return {
    call: (req, ctx) => filter(req, ctx, next),
    close: () => next.close(),
  };
}

export function newCallContext(service: string, signal?: AbortSignal): CallContext {
  return { service, signal, deadline: undefined, route: undefined, routePolicy: undefined, destination: undefined, subset: undefined, endpoint: undefined, avoidEndpoint: undefined, attempt: 1, trace: undefined };
}

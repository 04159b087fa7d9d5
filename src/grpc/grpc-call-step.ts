/**
 * One concern of a service's gRPC policy (trace, metrics, deadline, fault, retry, ...), run by the
 * policy interceptor at fixed points of every call's life. grpc-js gives each interceptor a layer
 * of its own per call (an InterceptingCall, a listener wrapper, closures); steps are plain hooks
 * that the one PolicyCall invokes in order, so a step costs a function call, not a layer.
 *
 * A step keeps no state per call: what it must remember about a call it writes on the call (the
 * fields of GrpcCall below), so a call is one object however many steps run. Every hook is optional.
 *
 * The hooks, in the order a call meets them:
 * - `started`   once, when the caller starts the call (its metadata is known, nothing is sent), in
 *               the steps' order. Return true to go on. Return false to take charge of the call:
 *               the step then ends it (`call.end`, an injected abort) or lets it go on later
 *               (`call.resume`, after an injected delay).
 * - `attempting` before each attempt (the first and every retry), in the steps' order. Return
 *               false when the step ended the call instead (an attempt it refuses).
 * - `attemptEnded` when an attempt ends, innermost step first. Return true when the step takes
 *               charge of what comes next (a retry, or an end it schedules); the first to do so
 *               stops the others. When none does, the attempt's status is the call's.
 * - `ended`     once, with the status the caller is about to receive, innermost step first, so an
 *               outer step (the span) sees everything inner steps did.
 */
import type { InterceptorOptions, Metadata, StatusObject } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { Clock } from '../core/clock.js';
import type { Admission, FailureRateBreaker } from '../policy/failure-rate-breaker.js';
import type { RetryBudget } from '../policy/retry-budget.js';
import type { RouteMetrics } from '../telemetry/mesh-metrics.js';

/** A call as its steps see it (PolicyCall is the one implementation). */
export interface GrpcCall {
  /** The call's options; the deadline step replaces them with a copy that carries the deadline. */
  options: InterceptorOptions;
  /** What every attempt sends as metadata; the trace step replaces it with a copy carrying the trace context. */
  metadata: Metadata;
  /** The method's path, `/package.Service/Method`. */
  readonly method: string;
  /** One request message, one response message: the only kind of call that can be retried. */
  readonly unary: boolean;
  /** Attempts made so far (the one in flight included). */
  readonly attempts: number;

  // What the steps remember about the call.
  span: Span | undefined;
  routeMetrics: RouteMetrics | undefined;
  startedAt: number;
  retryBudget: RetryBudget | undefined;
  /** The circuit breaker the call's attempts are counted in. */
  breaker: FailureRateBreaker | undefined;
  /** How the breaker admitted the attempt in flight, until its outcome is recorded. */
  breakerAdmission: Exclude<Admission, 'rejected'> | undefined;
  /** Whether the call holds one of the concurrency limit's slots, to give back when it ends. */
  holdsConcurrencySlot: boolean;

  /** Goes on with the steps after the one that held the call in `started`. */
  resume(): void;
  /** Makes another attempt (a unary call's request is sent again). */
  retry(): void;
  /** Milliseconds until the call's deadline on `clock`'s wall time; Infinity without one. */
  remainingMs(clock: Clock): number;
  /**
   * Runs `then` after `ms`, unless the deadline comes first: then the call ends with
   * DEADLINE_EXCEEDED at the deadline. A caller's cancel ends the wait too.
   */
  wait(clock: Clock, ms: number, then: () => void): void;
  /**
   * Called from `attempting`: cancels the attempt about to be made after `ms` on `clock`, with the
   * status `expire` returns then, unless the attempt ends first.
   */
  limitAttempt(clock: Clock, ms: number, expire: () => StatusObject): void;
  /** Ends the call with `status` (an attempt still in flight is cancelled). */
  end(status: StatusObject): void;
}

export interface GrpcCallStep {
  /** What the step is for, as the pipeline's description names it: 'trace', 'metrics', 'retry', ... */
  readonly role: string;
  started?(call: GrpcCall): boolean;
  attempting?(call: GrpcCall): boolean;
  attemptEnded?(call: GrpcCall, status: StatusObject): boolean;
  ended?(call: GrpcCall, status: StatusObject): void;
}

/** A list of steps sorted by hook once, so a call walks only the steps that have work at each point. */
export class GrpcCallPipeline {
  readonly steps: readonly GrpcCallStep[];
  readonly started: readonly GrpcCallStep[];
  readonly attempting: readonly GrpcCallStep[];
  /** Innermost first. */
  readonly attemptEnded: readonly GrpcCallStep[];
  /** Innermost first. */
  readonly ended: readonly GrpcCallStep[];

  constructor(steps: readonly GrpcCallStep[]) {
    this.steps = steps;
    this.started = steps.filter((s) => s.started !== undefined);
    this.attempting = steps.filter((s) => s.attempting !== undefined);
    this.attemptEnded = steps.filter((s) => s.attemptEnded !== undefined).reverse();
    this.ended = steps.filter((s) => s.ended !== undefined).reverse();
  }
}

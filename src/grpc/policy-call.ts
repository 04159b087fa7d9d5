/**
 * One gRPC call under its service's policy: the only layer meshwork adds between the caller and
 * grpc-js. It runs the pipeline's steps (grpc-call-step.ts) at the points of the call's life and
 * makes the call's attempts itself, each a call on the next layer (grpc-js's own) with the call's
 * options, so every attempt runs under the call's one deadline. It is its attempts' listener too,
 * so the whole policy costs one object per call and no closure on the common path. At most one
 * attempt is in flight at a time.
 *
 * For a unary call whose steps may act on an attempt's end (retries), the attempt's response
 * metadata and message are held until its status is known: the caller gets those of the attempt
 * whose status it gets, and nothing of a failed attempt that was retried. Streaming calls flow
 * through as they come, since their messages can be neither held back nor replayed.
 */
import { Metadata, status as Status, type InterceptingListener, type InterceptorOptions, type NextCall, type StatusObject } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Admission, FailureRateBreaker } from '../policy/failure-rate-breaker.js';
import type { RetryBudget } from '../policy/retry-budget.js';
import type { RouteMetrics } from '../telemetry/mesh-metrics.js';
import type { GrpcCall, GrpcCallPipeline } from './grpc-call-step.js';

type NextLayer = ReturnType<NextCall>;
type MessageContext = Parameters<NextLayer['sendMessageWithContext']>[0];
type AuthContext = ReturnType<NextLayer['getAuthContext']>;

/** Marks "no message yet": a message itself may be any value, null included. */
const NONE: unique symbol = Symbol('none');

/** A call waiting on a timer (a backoff, an injected delay) keeps the process alive, as its socket would. */
const KEEP_ALIVE = { keepAlive: true } as const;

export class PolicyCall implements GrpcCall {
  options: InterceptorOptions;
  /** Set by `start`. */
  metadata!: Metadata;
  readonly method: string;
  readonly unary: boolean;
  attempts = 0;
  span: Span | undefined = undefined;
  routeMetrics: RouteMetrics | undefined = undefined;
  startedAt = 0;
  retryBudget: RetryBudget | undefined = undefined;
  breaker: FailureRateBreaker | undefined = undefined;
  breakerAdmission: Exclude<Admission, 'rejected'> | undefined = undefined;
  holdsConcurrencySlot = false;

  readonly #pipeline: GrpcCallPipeline;
  readonly #nextCall: NextCall;
  readonly #holdsReply: boolean;
  #listener: InterceptingListener | undefined = undefined;
  #nextStarted = 0;
  #attempt: NextLayer | undefined = undefined;
  #inFlight = false;
  #ended = false;
  #cancelled = false;
  #endStatus: StatusObject | undefined = undefined;
  #timer: TimerHandle | undefined = undefined;
  #attemptTimer: TimerHandle | undefined = undefined;
  // What the caller sent, for an attempt made later: a retry, or a first attempt a step held back.
  #request: unknown = NONE;
  #pending: [MessageContext, unknown][] | undefined = undefined;
  #halfClosed = false;
  #readPending = false;
  #replyMetadata: Metadata | undefined = undefined;
  #reply: unknown = NONE;

  constructor(pipeline: GrpcCallPipeline, options: InterceptorOptions, nextCall: NextCall) {
    this.#pipeline = pipeline;
    this.options = options;
    this.#nextCall = nextCall;
    const definition = options.method_definition;
    this.method = definition.path;
    this.unary = !definition.requestStream && !definition.responseStream;
    this.#holdsReply = this.unary && pipeline.attemptEnded.length > 0;
  }

  // --- GrpcCall: what the steps call.

  resume(): void {
    if (!this.#ended) this.#runStartedSteps();
  }

  retry(): void {
    if (this.#ended) return;
    this.#reply = NONE;
    this.#replyMetadata = undefined;
    this.#makeAttempt();
  }

  remainingMs(clock: Clock): number {
    const deadline = this.options.deadline;
    if (deadline === undefined) return Infinity;
    return (typeof deadline === 'number' ? deadline : deadline.getTime()) - clock.wallNow();
  }

  // At the deadline a waiting call ends as grpc-js ends one whose deadline passes in its own retry backoff.
  wait(clock: Clock, ms: number, then: () => void): void {
    const remaining = this.remainingMs(clock);
    this.#timer =
      remaining <= ms
        ? clock.setTimer(() => this.end({ code: Status.DEADLINE_EXCEEDED, details: 'Deadline exceeded (meshwork: the call was waiting for a retry or an injected delay)', metadata: new Metadata() }), remaining, KEEP_ALIVE)
        : clock.setTimer(() => {
            this.#timer = undefined;
            then();
          }, ms, KEEP_ALIVE);
  }

  limitAttempt(clock: Clock, ms: number, expire: () => StatusObject): void {
    this.#attemptTimer = clock.setTimer(() => {
      this.#attemptTimer = undefined;
      if (!this.#inFlight || this.#ended) return;
      const status = expire();
      // The attempt's status (this one) comes back through onReceiveStatus, where the steps see it.
      this.#attempt!.cancelWithStatus(status.code, status.details);
    }, ms);
  }

  end(status: StatusObject): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#timer?.cancel();
    this.#attemptTimer?.cancel();
    if (this.#inFlight) {
      this.#inFlight = false;
      this.#attempt!.cancelWithStatus(status.code, status.details);
    }
    const steps = this.#pipeline.ended;
    for (let i = 0; i < steps.length; i++) steps[i]!.ended!(this, status);
    const listener = this.#listener;
    if (listener === undefined) {
      this.#endStatus = status;
      return;
    }
    const replyMetadata = this.#replyMetadata;
    const reply = this.#reply;
    // The caller may keep its call object long after the end: it need not keep the messages alive.
    this.#request = this.#reply = NONE;
    this.#replyMetadata = undefined;
    if (replyMetadata !== undefined) listener.onReceiveMetadata(replyMetadata);
    if (reply !== NONE) listener.onReceiveMessage(reply);
    listener.onReceiveStatus(status);
  }

  // --- InterceptingCallInterface: what the caller (grpc-js's client, or an interceptor before ours) calls.

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.metadata = metadata;
    this.#listener = completeListener(listener);
    if (this.#endStatus !== undefined) {
      this.#listener.onReceiveStatus(this.#endStatus);
      return;
    }
    this.#runStartedSteps();
  }

  sendMessage(message: unknown): void {
    if (this.unary) this.#request = message;
    if (this.#inFlight) this.#attempt!.sendMessage(message);
    else if (this.attempts === 0) (this.#pending ??= []).push([{}, message]);
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    if (this.unary) this.#request = message;
    if (this.#inFlight) this.#attempt!.sendMessageWithContext(context, message);
    else if (this.attempts === 0) (this.#pending ??= []).push([context, message]);
  }

  halfClose(): void {
    this.#halfClosed = true;
    if (this.#inFlight) this.#attempt!.halfClose();
  }

  startRead(): void {
    if (this.#inFlight) this.#attempt!.startRead();
    else this.#readPending = true;
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.#ended) return;
    this.#cancelled = true;
    // The attempt's status (this one) comes back through onReceiveStatus and ends the call.
    if (this.#inFlight) this.#attempt!.cancelWithStatus(code, details);
    else this.end({ code, details, metadata: new Metadata() });
  }

  getPeer(): string {
    return this.#attempt?.getPeer() ?? '';
  }

  getAuthContext(): AuthContext {
    return this.#attempt?.getAuthContext() ?? null;
  }

  // --- InterceptingListener: what the current attempt reports.

  onReceiveMetadata(metadata: Metadata): void {
    if (this.#ended) return;
    if (this.#holdsReply) this.#replyMetadata = metadata;
    else this.#listener!.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    if (this.#ended) return;
    if (this.#holdsReply) this.#reply = message;
    else this.#listener!.onReceiveMessage(message);
  }

  onReceiveStatus(status: StatusObject): void {
    this.#inFlight = false;
    if (this.#attemptTimer !== undefined) {
      this.#attemptTimer.cancel();
      this.#attemptTimer = undefined;
    }
    if (this.#ended) return;
    if (!this.#cancelled) {
      const steps = this.#pipeline.attemptEnded;
      for (let i = 0; i < steps.length; i++) if (steps[i]!.attemptEnded!(this, status)) return;
    }
    this.end(status);
  }

  // ---

  #runStartedSteps(): void {
    const steps = this.#pipeline.started;
    while (this.#nextStarted < steps.length) {
      if (!steps[this.#nextStarted++]!.started!(this)) return;
    }
    this.#makeAttempt();
  }

  #makeAttempt(): void {
    const steps = this.#pipeline.attempting;
    for (let i = 0; i < steps.length; i++) if (!steps[i]!.attempting!(this)) return;
    this.attempts++;
    const attempt = this.#nextCall(this.options);
    this.#attempt = attempt;
    this.#inFlight = true;
    attempt.start(this.metadata, this);
    if (this.attempts > 1) {
      if (this.#request !== NONE) attempt.sendMessage(this.#request);
    } else if (this.#pending !== undefined) {
      for (const [context, message] of this.#pending) attempt.sendMessageWithContext(context, message);
      this.#pending = undefined;
    }
    if (this.#halfClosed) attempt.halfClose();
    if (this.#readPending) {
      this.#readPending = false;
      attempt.startRead();
    }
  }
}

const ignore = () => {};

/** grpc-js accepts a listener with some callbacks left out; the call needs all three. */
function completeListener(listener: Partial<InterceptingListener> | undefined): InterceptingListener {
  if (listener?.onReceiveMetadata !== undefined && listener.onReceiveMessage !== undefined && listener.onReceiveStatus !== undefined) return listener as InterceptingListener;
  return {
    onReceiveMetadata: listener?.onReceiveMetadata?.bind(listener) ?? ignore,
    onReceiveMessage: listener?.onReceiveMessage?.bind(listener) ?? ignore,
    onReceiveStatus: listener?.onReceiveStatus?.bind(listener) ?? ignore,
  };
}

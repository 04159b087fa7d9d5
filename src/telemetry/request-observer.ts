/**
 * Where the request path tells the rest of the process that a request finished: the metrics filter
 * reports each one here once (after retries, with its final status or error), and the admin's stats
 * windows and tap listen. What the stack did along the way (retries, faults, refusals) arrives as
 * stack events, the same increments `Counters` forwards to the metrics registry.
 *
 * The request path pays for this only when someone listens: it checks `active` (a field read)
 * before building an event, so a process with no admin view and no tap builds nothing per request.
 * A listener that throws is cut off rather than allowed to fail the request it was told about.
 */
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import type { Classification, Direction, PeerLabels } from './metric-labels.js';

export interface CompletedRequest {
  /** Monotonic clock time at which the request finished (response headers, or the failure). */
  readonly at: number;
  readonly direction: Direction;
  /** The service whose client sent it (`app` for a sidecar's inbound side). */
  readonly service: string;
  /** The metrics' `authority` label: the service, or the authority the caller addressed. */
  readonly authority: string;
  /** The matched route, or undefined when none matched (Linkerd's default route). */
  readonly route: string | undefined;
  readonly request: MeshRequest;
  /** The response, unless the request failed without one. */
  readonly response: MeshResponse | undefined;
  /** The endpoint (`host:port`) of the last attempt, if one was picked. */
  readonly endpoint: string | undefined;
  /** Attempts made: 1, plus one per retry. */
  readonly attempts: number;
  readonly statusCode: number | undefined;
  /** gRPC status, for gRPC responses. */
  readonly grpcStatus: number | undefined;
  readonly classification: Classification;
  /** The MeshError code (or `ERROR`) of a request that failed without a response. */
  readonly error: string | undefined;
  /** Time to the response headers (or to the failure), ms. */
  readonly latencyMs: number;
  /** Inbound: who called (transport security and verified client identity). */
  readonly peer: PeerLabels | undefined;
}

export interface RequestListener {
  completed(event: CompletedRequest): void;
  /** A stack event (`retries_total`, `faults_aborted_total`, ...) counted for `authority`. */
  stackEvent?(authority: string, event: string, by: number): void;
}

export class RequestObserver {
  /** Whether anything listens; the request path reads this before building an event. */
  active = false;
  #listeners: RequestListener[] = [];
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Starts telling `listener`; the returned function stops. */
  listen(listener: RequestListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    this.active = true;
    return () => this.#remove(listener);
  }

  completed(event: CompletedRequest): void {
    for (const listener of this.#listeners) {
      try {
        listener.completed(event);
      } catch (err) {
        this.#fail(listener, err);
      }
    }
  }

  stackEvent(authority: string, event: string, by: number): void {
    for (const listener of this.#listeners) {
      if (listener.stackEvent === undefined) continue;
      try {
        listener.stackEvent(authority, event, by);
      } catch (err) {
        this.#fail(listener, err);
      }
    }
  }

  #fail(listener: RequestListener, err: unknown): void {
    this.#remove(listener);
    this.#onListenerError(err);
  }

  #remove(listener: RequestListener): void {
    this.#listeners = this.#listeners.filter((l) => l !== listener);
    this.active = this.#listeners.length > 0;
  }
}

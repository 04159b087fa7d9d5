/**
 * The state of a failure-rate circuit breaker, on the injected clock and with no timers, events or
 * promises: Hystrix's design (which opossum ports), reduced to the arithmetic. Outcomes are counted
 * in a rolling window cut into buckets; the circuit opens when at least `volumeThreshold` calls in
 * the window were made and more than `errorThresholdPercentage` of them failed. Open, it refuses
 * calls until `resetTimeoutMs` have passed, then lets one probe through: a good probe closes it
 * with an empty window (so the failures that opened it cannot reopen it at once), a bad one reopens
 * it. Buckets rotate lazily, from the clock, when a call comes.
 *
 * Written here rather than driven through opossum because opossum keeps its own timers and runs
 * every call through a promise, events and stats objects: on the sidecar's request path that was
 * about 1.5 µs of CPU per request (benchmarks/RESULTS.md), and testing it on a ManualClock meant
 * driving its internals.
 */
import { MeshError } from '../core/errors.js';
import type { CircuitBreakerPolicy } from '../core/policy.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface FailureRateBreakerOptions {
  errorThresholdPercentage: number;
  volumeThreshold: number;
  resetTimeoutMs: number;
  rollingWindowMs: number;
  /** How many buckets the window is cut into. Default 10, as Hystrix. */
  buckets?: number;
}

const BUCKETS = 10;

/**
 * A service's `circuitBreaker` settings with the defaults filled in, checked: Hystrix's 50 %, a 10 s
 * window and `volumeThreshold` 20 (its `requestVolumeThreshold`), `resetTimeoutMs` 10 s to match the window.
 */
export function breakerOptions(policy: CircuitBreakerPolicy): Required<FailureRateBreakerOptions> {
  const errorThresholdPercentage = policy.errorThresholdPercentage ?? 50;
  const volumeThreshold = policy.volumeThreshold ?? 20;
  const resetTimeoutMs = policy.resetTimeoutMs ?? 10_000;
  const rollingWindowMs = policy.rollingWindowMs ?? 10_000;
  validate(errorThresholdPercentage >= 0 && errorThresholdPercentage <= 100, `errorThresholdPercentage must be 0..100, got ${errorThresholdPercentage}`);
  validate(Number.isInteger(volumeThreshold) && volumeThreshold >= 0, `volumeThreshold must be a whole number >= 0, got ${volumeThreshold}`);
  validate(Number.isFinite(resetTimeoutMs) && resetTimeoutMs >= 0, `resetTimeoutMs must be a number of ms >= 0, got ${resetTimeoutMs}`);
  validate(Number.isFinite(rollingWindowMs) && rollingWindowMs >= BUCKETS, `rollingWindowMs must be at least ${BUCKETS} ms, got ${rollingWindowMs}`);
  return { errorThresholdPercentage, volumeThreshold, resetTimeoutMs, rollingWindowMs, buckets: BUCKETS };
}

function validate(ok: boolean, message: string): void {
  if (!ok) throw new MeshError('INVALID_OPTIONS', `circuitBreaker.${message}`);
}

/** Why a call to `service` is refused at `now`, and when calls may resume: what the HTTP error and the gRPC status say. */
export function openCircuitMessage(breaker: FailureRateBreaker, service: string, now: number): string {
  const wait = Math.max(0, Math.ceil((breaker.probeAt() ?? 0) - now));
  const when = breaker.probing ? 'a probe request is in flight now; calls resume if it succeeds' : `it lets one probe request through in ${wait} ms`;
  return `service "${service}": circuit breaker is open because more than ${breaker.options.errorThresholdPercentage}% of recent calls failed; ${when}. Failing fast instead of adding load; check the service's health.`;
}

/** What a caller may do now: send as usual, send the one probe, or fail fast. */
export type Admission = 'closed' | 'probe' | 'rejected';

export class FailureRateBreaker {
  readonly options: Readonly<FailureRateBreakerOptions>;
  readonly #sliceMs: number;
  readonly #calls: Int32Array;
  readonly #failures: Int32Array;
  #slice: number;
  #totalCalls = 0;
  #totalFailures = 0;
  #open = false;
  #probeAt = 0;
  #probing = false;

  constructor(options: FailureRateBreakerOptions, now: number) {
    const buckets = options.buckets ?? BUCKETS;
    this.options = options;
    this.#sliceMs = options.rollingWindowMs / buckets;
    this.#calls = new Int32Array(buckets);
    this.#failures = new Int32Array(buckets);
    this.#slice = Math.floor(now / this.#sliceMs);
  }

  /** Asks to send a call now. A `probe` must be followed by `probeSettled`. */
  admit(now: number): Admission {
    if (!this.#open) return 'closed';
    if (this.#probing || now < this.#probeAt) return 'rejected';
    this.#probing = true;
    return 'probe';
  }

  /** A call admitted while closed has finished; true when this outcome opened the circuit. */
  record(failed: boolean, now: number): boolean {
    this.#rotate(now);
    const i = this.#slice % this.#calls.length;
    this.#calls[i]!++;
    this.#totalCalls++;
    if (!failed) return false;
    this.#failures[i]!++;
    this.#totalFailures++;
    if (this.#open || this.#totalCalls < this.options.volumeThreshold) return false;
    if ((this.#totalFailures / this.#totalCalls) * 100 <= this.options.errorThresholdPercentage) return false;
    this.#tripAt(now);
    return true;
  }

  /**
   * The probe has finished: `success` closes the circuit with a fresh window, `failure` reopens it
   * (true is returned: it opened), `aborted` (the caller gave up) proves nothing and the next call probes.
   */
  probeSettled(outcome: 'success' | 'failure' | 'aborted', now: number): boolean {
    this.#probing = false;
    if (outcome === 'success') {
      this.#open = false;
      this.#calls.fill(0);
      this.#failures.fill(0);
      this.#totalCalls = 0;
      this.#totalFailures = 0;
      this.#slice = Math.floor(now / this.#sliceMs);
      return false;
    }
    if (outcome === 'failure') {
      this.#tripAt(now);
      return true;
    }
    return false;
  }

  state(now: number): BreakerState {
    if (!this.#open) return 'closed';
    return this.#probing || now >= this.#probeAt ? 'half-open' : 'open';
  }

  /** Clock time at which an open circuit lets its probe through; undefined while closed. */
  probeAt(): number | undefined {
    return this.#open ? this.#probeAt : undefined;
  }

  get probing(): boolean {
    return this.#probing;
  }

  /** The window's counts now, for admin views. */
  window(now: number): { calls: number; failures: number } {
    this.#rotate(now);
    return { calls: this.#totalCalls, failures: this.#totalFailures };
  }

  #tripAt(now: number): void {
    this.#open = true;
    this.#probeAt = now + this.options.resetTimeoutMs;
  }

  /** Empties the buckets whose time has passed since the last call. */
  #rotate(now: number): void {
    const slice = Math.floor(now / this.#sliceMs);
    const passed = slice - this.#slice;
    if (passed <= 0) return;
    const n = this.#calls.length;
    for (let k = 1; k <= Math.min(passed, n); k++) {
      const i = (this.#slice + k) % n;
      this.#totalCalls -= this.#calls[i]!;
      this.#totalFailures -= this.#failures[i]!;
      this.#calls[i] = 0;
      this.#failures[i] = 0;
    }
    this.#slice = slice;
  }
}

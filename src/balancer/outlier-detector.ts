/**
 * Passive outlier ejection, with Envoy's outlier-detection semantics: an endpoint that fails
 * `consecutiveFailures` times in a row is taken out of rotation for `baseEjectionMs` times the
 * number of times it has been ejected (capped at `maxEjectionMs`), so a flapping endpoint stays out
 * longer each time. When its time is up it is readmitted on probation: the next request is the probe,
 * and one failure sends it straight back out; a success clears the failure streak.
 *
 * Ejection never takes more than `maxEjectedPercent` of the endpoints out (but always allows one),
 * and the balancer falls back to every endpoint when all are ejected anyway: failing open keeps a
 * partially broken service reachable, where failing closed would turn it into a full outage.
 */
import type { Clock } from '../core/clock.js';
import { ENDPOINT_DEFAULTS } from '../core/policy.js';

export interface OutlierDetectionOptions {
  /** Failures in a row that eject an endpoint. Default 5 (Envoy's consecutive_5xx). 0 disables. */
  consecutiveFailures?: number;
  /** First ejection lasts this long; the n-th lasts n times as long. Default 30 000 ms (Envoy). */
  baseEjectionMs?: number;
  /** Upper bound on one ejection. Default 300 000 ms (Envoy). */
  maxEjectionMs?: number;
  /** Most of the endpoints that may be out at once, percent. Default 50. */
  maxEjectedPercent?: number;
}

export interface OutlierState {
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil: number;
  onProbation: boolean;
}

export function newOutlierState(): OutlierState {
  return { consecutiveFailures: 0, ejections: 0, ejectedUntil: 0, onProbation: false };
}

export class OutlierDetector {
  readonly #threshold: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxPercent: number;
  readonly #clock: Clock;

  constructor(options: OutlierDetectionOptions, clock: Clock) {
    const defaults = ENDPOINT_DEFAULTS.outlierDetection;
    this.#threshold = options.consecutiveFailures ?? defaults.consecutiveFailures;
    this.#baseMs = options.baseEjectionMs ?? defaults.baseEjectionMs;
    this.#maxMs = options.maxEjectionMs ?? defaults.maxEjectionMs;
    this.#maxPercent = options.maxEjectedPercent ?? defaults.maxEjectedPercent;
    this.#clock = clock;
  }

  /** Whether the endpoint is out of rotation at `now`. A read: it never changes the state. */
  isEjected(state: OutlierState, now = this.#clock.now()): boolean {
    return state.ejectedUntil !== 0 && now < state.ejectedUntil;
  }

  /** How long the endpoint stays out of rotation from `now`, ms (0 when it is in). A read, like isEjected. */
  ejectionRemainingMs(state: OutlierState, now = this.#clock.now()): number {
    return this.isEjected(state, now) ? state.ejectedUntil - now : 0;
  }

  /**
   * Whether the endpoint may be picked at `now`; one whose ejection is over is readmitted here, on
   * probation. Only the balancer's pick calls this: probation means "the next request is the probe",
   * so it must start when a request may go there, not whenever someone looks at the endpoints.
   */
  readmitIfDue(state: OutlierState, now: number): boolean {
    if (state.ejectedUntil === 0) return true;
    if (now < state.ejectedUntil) return false;
    state.ejectedUntil = 0;
    state.onProbation = true;
    return true;
  }

  onSuccess(state: OutlierState): void {
    state.consecutiveFailures = 0;
    if (state.onProbation) {
      state.onProbation = false;
      // A healthy probe earns back one step of the growing ejection time.
      state.ejections = Math.max(0, state.ejections - 1);
    }
  }

  /**
   * Records a failure; returns true when it ejected the endpoint. `ejectedNow` is how many of the
   * `total` endpoints are out already.
   */
  onFailure(state: OutlierState, total: number, ejectedNow: number): boolean {
    if (this.#threshold <= 0) return false;
    state.consecutiveFailures++;
    const tripped = state.onProbation || state.consecutiveFailures >= this.#threshold;
    if (!tripped || state.ejectedUntil !== 0) return false;
    const allowed = Math.max(1, Math.floor((total * this.#maxPercent) / 100));
    if (ejectedNow + 1 > allowed) return false;
    state.ejections++;
    state.onProbation = false;
    state.consecutiveFailures = 0;
    state.ejectedUntil = this.#clock.now() + Math.min(this.#maxMs, this.#baseMs * state.ejections);
    return true;
  }
}

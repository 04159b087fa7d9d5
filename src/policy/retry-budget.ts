/**
 * A retry budget: retries are allowed as a fraction of recent traffic, plus a small floor, so that a
 * failing service sees at most `1 + retryRatio` times its normal load instead of `maxAttempts` times
 * (the retry storm that per-request retry counts alone cause).
 *
 * Semantics are Finagle's `RetryBudget` (com.twitter.finagle.service.RetryBudget, `TokenRetryBudget`)
 * as adopted by Linkerd (linkerd2-proxy uses tower's `TpsBudget`, a port of it): every original
 * request deposits, every retry withdraws, and both expire after `ttl`, so over any `ttl` window
 *
 *     allowed retries = minRetriesPerSecond * ttl_seconds + retryRatio * requests in the last ttl
 *
 * The defaults (ratio 0.2, 10 retries/s, ttl 10 s) are Linkerd's ServiceProfile `retryBudget`
 * defaults. As in Finagle, balances are kept in integer tokens (a deposit is worth 1 000, a
 * withdrawal 1 000 / ratio) so a ratio like 0.2 adds up exactly, and the window is a ring of
 * `buckets` time slices on the injected Clock (Finagle's WindowedAdder and tower both use 10), so
 * an entry expires between 0.9 and 1 ttl after it was made and tests can drive it with a ManualClock.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { Param } from '../core/params.js';
import { RETRY_DEFAULTS, type RetryBudgetPolicy } from '../core/policy.js';

const DEPOSIT = 1_000;

export interface RetryBudgetOptions extends RetryBudgetPolicy {
  /** Slices the ttl window is cut into. Default 10 (Finagle, tower). */
  buckets?: number;
}

export class RetryBudget {
  readonly retryRatio: number;
  readonly minRetriesPerSecond: number;
  readonly ttlMs: number;

  readonly #clock: Clock;
  readonly #deposit: number;
  readonly #withdrawal: number;
  readonly #reserve: number;
  readonly #sliceMs: number;
  readonly #values: number[];
  /** The slice number each ring slot currently holds, so stale slots are recognised lazily. */
  readonly #slices: number[];

  constructor(policy: RetryBudgetOptions = {}, clock: Clock = systemClock) {
    this.retryRatio = policy.retryRatio ?? RETRY_DEFAULTS.budget.retryRatio;
    this.minRetriesPerSecond = policy.minRetriesPerSecond ?? RETRY_DEFAULTS.budget.minRetriesPerSecond;
    this.ttlMs = policy.ttlMs ?? RETRY_DEFAULTS.budget.ttlMs;
    const buckets = policy.buckets ?? 10;
    if (!(this.retryRatio >= 0) || !Number.isFinite(this.retryRatio)) throw new RangeError(`retryRatio must be a number >= 0, got ${this.retryRatio}`);
    if (!(this.minRetriesPerSecond >= 0) || !Number.isFinite(this.minRetriesPerSecond)) {
      throw new RangeError(`minRetriesPerSecond must be a number >= 0, got ${this.minRetriesPerSecond}`);
    }
    if (!(this.ttlMs >= 1) || !Number.isFinite(this.ttlMs)) throw new RangeError(`ttlMs must be at least 1 ms, got ${this.ttlMs}`);
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a whole number >= 1, got ${buckets}`);
    this.#clock = clock;
    // A zero ratio means only the reserve pays for retries (tower does the same).
    this.#deposit = this.retryRatio === 0 ? 0 : DEPOSIT;
    this.#withdrawal = this.retryRatio === 0 ? DEPOSIT : Math.round(DEPOSIT / this.retryRatio);
    this.#reserve = Math.round(this.minRetriesPerSecond * (this.ttlMs / 1000) * this.#withdrawal);
    this.#sliceMs = this.ttlMs / buckets;
    this.#values = new Array<number>(buckets).fill(0);
    this.#slices = new Array<number>(buckets).fill(-Infinity);
  }

  /** Records an original request (not a retry). */
  deposit(): void {
    if (this.#deposit !== 0) this.#add(this.#deposit);
  }

  /** Takes one retry from the budget; false when the budget cannot pay for it. */
  tryWithdraw(): boolean {
    if (this.#balance() < this.#withdrawal) return false;
    this.#add(-this.#withdrawal);
    return true;
  }

  /** Retries the budget would allow right now. */
  available(): number {
    return Math.max(0, Math.floor(this.#balance() / this.#withdrawal));
  }

  #balance(): number {
    const current = Math.floor(this.#clock.now() / this.#sliceMs);
    const oldest = current - this.#values.length + 1;
    let sum = this.#reserve;
    for (let i = 0; i < this.#values.length; i++) if (this.#slices[i]! >= oldest) sum += this.#values[i]!;
    return sum;
  }

  #add(amount: number): void {
    const slice = Math.floor(this.#clock.now() / this.#sliceMs);
    const n = this.#values.length;
    const i = ((slice % n) + n) % n;
    if (this.#slices[i] !== slice) {
      this.#slices[i] = slice;
      this.#values[i] = 0;
    }
    this.#values[i]! += amount;
  }
}

/**
 * The budget a service's retries and hedged requests draw on, shared with its gRPC clients; without
 * one the retry filter makes its own.
 */
export const RetryBudgetParam = new Param<RetryBudget | undefined>('retryBudget', undefined);

/**
 * Exponential backoff with "full jitter", from the AWS Architecture Blog post "Exponential Backoff
 * and Jitter" (Marc Brooker, 2015): the n-th retry waits a uniformly random time in
 * [0, min(maxMs, baseMs * 2^(n-1))). In that post's simulation of competing clients, full jitter
 * did the least work (fewest calls) of all variants and finished close to the fastest, because it
 * spreads retries that would otherwise arrive in lock-step; it also needs no state between retries. The defaults (25 ms base, 1 s cap; RETRY_DEFAULTS in core/policy.ts) keep the default three
 * retries' ceilings at 25 / 50 / 100 ms, so the waits of a whole retry chain stay well inside a
 * typical request deadline while still spreading a burst over tens of milliseconds.
 *
 * Why not p-retry: p-retry@7 is a whole retry loop, not a backoff function. It owns its own
 * `setTimeout` loop, so it cannot take the injected Clock (nor stay consistent with the deadline
 * the other filters compute on it); it cannot consult a retry budget or the remaining deadline
 * before each retry except by throwing from a hook; it retries only thrown errors (a 503 response
 * would have to be thrown and unwrapped); and on every successful call it costs about 7.7 µs
 * against the retry filter's 0.12 µs (benchmarks/retry-overhead.ts; figures in
 * benchmarks/profile-notes.md). The backoff formula it would have given us is one line.
 */
import { systemRandom, type Clock, type Random } from '../core/clock.js';
import { RETRY_DEFAULTS, type BackoffPolicy } from '../core/policy.js';

export class ExponentialBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly #random: Random;

  constructor(policy: BackoffPolicy = {}, random: Random = systemRandom) {
    this.baseMs = policy.baseMs ?? RETRY_DEFAULTS.backoff.baseMs;
    this.maxMs = policy.maxMs ?? RETRY_DEFAULTS.backoff.maxMs;
    if (!(this.baseMs >= 0) || !Number.isFinite(this.baseMs)) throw new RangeError(`backoff baseMs must be a number >= 0, got ${this.baseMs}`);
    if (!(this.maxMs >= 0) || !Number.isFinite(this.maxMs)) throw new RangeError(`backoff maxMs must be a number >= 0, got ${this.maxMs}`);
    this.#random = random;
  }

  /** The ceiling of the wait before retry number `retry` (1 = the first retry). */
  ceilingFor(retry: number): number {
    // 2 ** huge is Infinity, and min() then caps it, so long retry chains cannot overflow.
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.max(0, retry - 1));
  }

  /** A jittered wait in [0, ceilingFor(retry)) ms before retry number `retry` (1 = the first retry). */
  delayFor(retry: number): number {
    return this.#random() * this.ceilingFor(retry);
  }
}

/**
 * Waits `ms` on the given clock; rejects with the signal's reason if it aborts first. A zero wait
 * resolves at once, so a ManualClock that is never advanced does not stall zero-backoff retries.
 */
/** A request is waiting on the timer: the process must not exit under it. */
const KEEP_ALIVE = { keepAlive: true } as const;

export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      timer.cancel();
      reject(signal!.reason);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms, KEEP_ALIVE);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

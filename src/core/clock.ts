/**
 * Time and chance are injected so that balancers, ejection, budgets and breakers can be tested
 * deterministically: tests drive a ManualClock and a seeded random source instead of sleeping.
 *
 * A clock tells two kinds of time, and they must never meet in one subtraction. Monotonic time
 * (`now()`) only ever moves forward at a steady rate and starts anywhere (at process start for the
 * system clock): it measures durations and deadlines. Wall-clock time (`wallNow()`) is milliseconds
 * since the Unix epoch, the time certificates and dates from outside the process are written in; it
 * can jump when the system clock is set. The two are branded number types, so a function that asks
 * for one does not accept the other: comparing a certificate's notAfter with a monotonic reading
 * (decades of time left, for a certificate that expires tomorrow) does not compile.
 */
declare const monotonicBrand: unique symbol;
declare const epochBrand: unique symbol;

/** A monotonic clock reading, ms: only the difference between two readings means anything. */
export type MonotonicMs = number & { readonly [monotonicBrand]: true };
/** Wall-clock time, ms since the Unix epoch (what `Date.getTime()` returns). */
export type EpochMs = number & { readonly [epochBrand]: true };

export interface TimerOptions {
  /** Keep the process alive until the timer fires or is cancelled. */
  keepAlive?: boolean;
}

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. Never compare with a date. */
  now(): MonotonicMs;
  /** Wall-clock milliseconds since the Unix epoch, for comparing with dates such as a certificate's validity. */
  wallNow(): EpochMs;
  /**
   * Runs `fn` after `ms` (monotonic). Background timers (polls, expiry checks) never keep the
   * process alive on their own; a wait on behalf of a request someone awaits (a retry's backoff, an
   * injected delay, the first discovery) passes `keepAlive`, as the request's socket would.
   */
  setTimer(fn: () => void, ms: number, options?: TimerOptions): TimerHandle;
}

/** Milliseconds from the wall-clock reading `now` until `date`; negative once it has passed. */
export function msUntil(date: Date, now: EpochMs): number {
  return date.getTime() - now;
}

export const systemClock: Clock = {
  now: performance.now.bind(performance) as () => MonotonicMs,
  wallNow: Date.now as () => EpochMs,
  setTimer(fn, ms, options) {
    const t = setTimeout(fn, ms);
    if (options?.keepAlive !== true) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to; timers fire in order during `advance`. Its wall clock moves
 * with its monotonic one. It starts at the real wall-clock time unless told otherwise, so that
 * certificates issued for a test are valid on it.
 */
export class ManualClock implements Clock {
  #now: number;
  readonly #wallOffset: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  constructor(start = 0, wallStart: number = Date.now()) {
    this.#now = start;
    this.#wallOffset = wallStart - start;
  }

  now(): MonotonicMs {
    return this.#now as MonotonicMs;
  }

  wallNow(): EpochMs {
    return (this.#wallOffset + this.#now) as EpochMs;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: PendingTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }
}

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

export const systemRandom: Random = Math.random;

/** mulberry32: a tiny, well-distributed seeded generator, good enough for load balancing and tests. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

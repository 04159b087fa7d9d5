/**
 * A rolling window over the injected clock: `slices` consecutive time slices (10, as Finagle's
 * WindowedAdder and the retry budget use), of which the current one fills while the oldest is
 * forgotten. A read covers between (slices - 1) / slices and all of the window, and says how much
 * time it covered, so that rates are counts divided by that time rather than by a window the
 * process has not lived through yet. Slices rotate lazily, on write or read: no timer.
 */
import type { Clock } from '../core/clock.js';

export interface Slice<S> {
  make(): S;
  reset(slice: S): void;
  /** Adds `from` into `into`. */
  merge(into: S, from: S): void;
}

export class RollingWindow<S> {
  readonly windowMs: number;
  readonly #sliceMs: number;
  readonly #kind: Slice<S>;
  readonly #clock: Clock;
  readonly #slices: S[];
  /** The slice number each ring slot holds now; a slot from an older lap is stale. */
  readonly #numbers: number[];
  readonly #startedAt: number;

  /** `startedAt`: when counting began (a new key's window covers the time its owner has been counting). */
  constructor(windowMs: number, kind: Slice<S>, clock: Clock, startedAt: number = clock.now(), slices = 10) {
    this.windowMs = windowMs;
    this.#sliceMs = windowMs / slices;
    this.#kind = kind;
    this.#clock = clock;
    this.#slices = Array.from({ length: slices }, () => kind.make());
    this.#numbers = new Array<number>(slices).fill(-Infinity);
    this.#startedAt = startedAt;
  }

  /** The slice that collects what happens now. */
  current(): S {
    const number = Math.floor(this.#clock.now() / this.#sliceMs);
    const n = this.#slices.length;
    const slot = ((number % n) + n) % n;
    const slice = this.#slices[slot]!;
    if (this.#numbers[slot] !== number) {
      this.#kind.reset(slice);
      this.#numbers[slot] = number;
    }
    return slice;
  }

  /** Everything within the window merged into `into`; returns the time covered, ms. */
  sum(into: S): number {
    const now = this.#clock.now();
    const number = Math.floor(now / this.#sliceMs);
    const oldest = number - this.#slices.length + 1;
    for (let i = 0; i < this.#slices.length; i++) {
      const held = this.#numbers[i]!;
      if (held >= oldest && held <= number) this.#kind.merge(into, this.#slices[i]!);
    }
    return windowCoverage(now, this.windowMs, this.#startedAt, this.#slices.length);
  }
}

/** The time (ms) a read at `now` covers, for windows that began counting at `startedAt`. */
export function windowCoverage(now: number, windowMs: number, startedAt: number, slices = 10): number {
  const sliceMs = windowMs / slices;
  const oldest = Math.floor(now / sliceMs) - slices + 1;
  return Math.max(0, now - Math.max(oldest * sliceMs, startedAt));
}

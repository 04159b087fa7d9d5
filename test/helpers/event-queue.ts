/**
 * Callbacks turned into something a test can await: each `push` is kept, and `next()` resolves
 * with the next value, already pushed or still to come (or rejects after a generous limit, so a
 * test that waits for something that never happens fails with a message instead of hanging).
 */
export class EventQueue<T> {
  readonly all: T[] = [];
  #read = 0;
  #waiting: ((value: T) => void) | undefined;

  push = (value: T): void => {
    this.all.push(value);
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      this.#read++;
      waiting(value);
    }
  };

  next(what = 'event', timeoutMs = 10_000): Promise<T> {
    if (this.#read < this.all.length) return Promise.resolve(this.all[this.#read++]!);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting = (value) => {
        clearTimeout(timer);
        resolve(value);
      };
    });
  }

  /** Skips what arrived so far: the next next() waits for something new. */
  drain(): void {
    this.#read = this.all.length;
  }

  /** Waits until a value satisfies the test. */
  async until(test: (value: T) => boolean, what = 'matching event', timeoutMs = 10_000): Promise<T> {
    for (;;) {
      const value = await this.next(what, timeoutMs);
      if (test(value)) return value;
    }
  }
}

/**
 * A value that changes over time and tells its subscribers; discovery publishes endpoint sets through
 * it so the balancer always reads the latest known set without waiting.
 */
export type Unsubscribe = () => void;

export class Watchable<T> {
  #value: T;
  #listeners = new Set<(value: T) => void>();

  constructor(initial: T) {
    this.#value = initial;
  }

  get(): T {
    return this.#value;
  }

  set(value: T): void {
    this.#value = value;
    for (const listener of [...this.#listeners]) listener(value);
  }

  subscribe(listener: (value: T) => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

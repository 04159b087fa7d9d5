/**
 * Plain in-memory counters that filters bump as they act (retries, budget exhaustion, breaker opens,
 * faults, rejections). They are cheap enough for the hot path and readable from a client
 * (`client.counters()`), so tests and users can see what the stack did without a metrics backend.
 */
export class Counters {
  readonly #values = new Map<string, number>();
  readonly #forward: ((name: string, by: number) => void) | undefined;

  /** `forward` sees every increment too: the mesh's metrics registry listens there. */
  constructor(forward?: (name: string, by: number) => void) {
    this.#forward = forward;
  }

  inc(name: string, by = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + by);
    this.#forward?.(name, by);
  }

  get(name: string): number {
    return this.#values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#values].sort(([a], [b]) => a.localeCompare(b)));
  }
}

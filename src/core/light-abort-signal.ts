/**
 * A minimal stand-in for AbortController/AbortSignal, for the mesh dispatcher's hot path. Node 20
 * makes every real AbortSignal transferable to workers at construction, which measured at about 7%
 * of the CPU of a `fetch()` through the mesh (benchmarks/RESULTS.md); the mesh needs none of that,
 * only `aborted`, `reason` and abort listeners — the subset meshwork's layers and undici's
 * `request({ signal })` use. Everything that needs a real signal (timeouts) still makes one.
 */
type Listener = (event: { type: 'abort' }) => void;

export class LightAbortSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: Listener[] | undefined;

  addEventListener(type: string, listener: Listener): void {
    if (type === 'abort') (this.#listeners ??= []).push(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    if (type !== 'abort' || !this.#listeners) return;
    const i = this.#listeners.indexOf(listener);
    if (i >= 0) this.#listeners.splice(i, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** Fires the abort once; listeners run in the order they were added, each at most once. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const l of listeners) l({ type: 'abort' });
  }

  /** Typed as the DOM signal for the APIs that take one; see the module doc for the subset used. */
  asAbortSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}

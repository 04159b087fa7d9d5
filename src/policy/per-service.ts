/**
 * One piece of state per service of a mesh (a retry budget, a breaker), shared by the service's
 * HTTP client and its grpcClients and carried across config reloads: a reload that leaves the
 * settings alone keeps the state as it is, changed settings start a new one.
 */
export class PerService<T> {
  readonly #byService = new Map<string, T>();

  /** The state of `service` if `unchanged(held)`, else the one `make()` returns from now on. */
  get(service: string, unchanged: (held: T) => boolean, make: () => T): T {
    const key = service.toLowerCase();
    const held = this.#byService.get(key);
    if (held !== undefined && unchanged(held)) return held;
    const made = make();
    this.#byService.set(key, made);
    return made;
  }
}

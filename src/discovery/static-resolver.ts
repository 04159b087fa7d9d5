/**
 * A fixed endpoint list: the `endpoints: [...]` option. It emits its set once and never changes, which
 * is all a laptop setup or a test needs.
 */
import type { EndpointAddress } from './endpoint-address.js';
import type { Resolver, ResolverListener } from './resolver.js';

export class StaticResolver implements Resolver {
  readonly description: string;
  readonly #endpoints: readonly EndpointAddress[];

  constructor(endpoints: readonly EndpointAddress[]) {
    this.#endpoints = endpoints;
    this.description = `static:${endpoints.map((e) => `${e.host}:${e.port}`).join(',')}`;
  }

  start(listener: ResolverListener): void {
    listener.onEndpoints(this.#endpoints);
  }

  async close(): Promise<void> {}
}

/**
 * A stable face for one service of a mesh: what `mesh.client('reviews')` returns. A reload may
 * replace the client underneath; requests sent after the swap go to the new one, and a handle the
 * application holds never goes stale.
 */
import type { Dispatcher } from 'undici';
import { MeshDispatcher } from './mesh-dispatcher.js';
import type { MeshClient } from './mesh-client.js';

export class ServiceHandle implements MeshClient {
  current: MeshClient;
  readonly dispatcher: Dispatcher;

  constructor(client: MeshClient) {
    this.current = client;
    this.dispatcher = new MeshDispatcher(() => this);
  }

  get name() {
    return this.current.name;
  }
  get stack() {
    return this.current.stack;
  }
  get settings() {
    return this.current.settings;
  }
  get metrics() {
    return this.current.metrics;
  }
  get registry() {
    return this.current.registry;
  }
  request(req: Parameters<MeshClient['request']>[0]) {
    return this.current.request(req);
  }
  fetch(path: string, init?: Parameters<MeshClient['fetch']>[1]) {
    return this.current.fetch(path, init);
  }
  endpoints() {
    return this.current.endpoints();
  }
  counters() {
    return this.current.counters();
  }
  status() {
    return this.current.status();
  }
  get retryBudget() {
    return this.current.retryBudget;
  }
  get circuitBreaker() {
    return this.current.circuitBreaker;
  }
  close() {
    return this.current.close();
  }
}

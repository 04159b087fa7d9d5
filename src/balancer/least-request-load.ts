/**
 * Least-request load: the cost is the number of outstanding requests. Cheap and robust; under P2C it
 * is what Envoy's LEAST_REQUEST and Finagle's "Least Loaded" balancers use.
 */
import type { EndpointLoad } from './endpoint-load.js';

export class LeastRequestLoad implements EndpointLoad {
  pending = 0;

  start(): void {
    this.pending++;
  }

  end(): void {
    this.pending--;
  }

  cost(): number {
    return this.pending;
  }
}

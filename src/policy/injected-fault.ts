/**
 * How a response made up by fault injection is told apart from the app's own: it carries
 * `x-meshwork-fault: abort`. Injected failures are never retried (Envoy's and Istio's semantics),
 * so the retry filter asks, and the fault filter marks.
 */
import type { MeshResponse } from '../http/http-types.js';

export const FAULT_HEADER = 'x-meshwork-fault';

export function isInjectedFault(response: MeshResponse): boolean {
  const value = response.header(FAULT_HEADER);
  return value === 'abort' || (Array.isArray(value) && value.includes('abort'));
}

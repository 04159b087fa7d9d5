/**
 * The default client stack, top (first to see a request) to bottom. Below the last module sits the
 * balancer, which picks an endpoint and hands the request to that endpoint's undici Pool.
 *
 * Each later capability is a module inserted here at the place the request path needs it; users edit
 * this list by role (`options.stack`) instead of rebuilding the client.
 */
import type { Service } from '../core/service.js';
import { Stack, type StackModule } from '../core/stack.js';
import type { MeshRequest, MeshResponse } from './http-types.js';

export type HttpStack = Stack<MeshRequest, MeshResponse>;
export type HttpModule = StackModule<MeshRequest, MeshResponse>;
export type HttpService = Service<MeshRequest, MeshResponse>;

export function defaultClientStack(): HttpStack {
  return new Stack<MeshRequest, MeshResponse>([]);
}

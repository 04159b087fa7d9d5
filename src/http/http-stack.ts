/**
 * The HTTP stack's types: what every stack module and filter of the client is written against. The
 * default list of modules is assembled in client/default-stack.ts.
 */
import type { Service } from '../core/service.js';
import type { Stack, StackModule } from '../core/stack.js';
import type { MeshRequest, MeshResponse } from './http-types.js';

export type HttpStack = Stack<MeshRequest, MeshResponse>;
export type HttpModule = StackModule<MeshRequest, MeshResponse>;
export type HttpService = Service<MeshRequest, MeshResponse>;

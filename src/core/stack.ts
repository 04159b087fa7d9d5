/**
 * A Stack is data, not code: an ordered list of modules, top (closest to the caller) first, each with a
 * role and a description. It can be printed and edited by role before `build` turns it into a Service,
 * so users insert their own filters at a precise place without rebuilding the whole client.
 */
import { MeshError } from './errors.js';
import type { Param, Params } from './params.js';
import { applyFilter, type Filter, type Service } from './service.js';

export interface StackModule<Req, Res> {
  readonly role: string;
  readonly description: string;
  /** The parameters `make` reads; those taken from the service's policy are filled from it. */
  readonly params?: readonly Param<any>[];
  make(params: Params, next: Service<Req, Res>): Service<Req, Res>;
}

export class Stack<Req, Res> {
  readonly modules: readonly StackModule<Req, Res>[];

  constructor(modules: readonly StackModule<Req, Res>[] = []) {
    const seen = new Set<string>();
    for (const m of modules) {
      if (seen.has(m.role)) {
        throw new MeshError('INVALID_OPTIONS', `stack has two modules with role "${m.role}"; roles must be unique`);
      }
      seen.add(m.role);
    }
    this.modules = modules;
  }

  /** Every parameter the modules read, once each. */
  params(): Param<unknown>[] {
    return [...new Set(this.modules.flatMap((m) => m.params ?? []))];
  }

  roles(): string[] {
    return this.modules.map((m) => m.role);
  }

  has(role: string): boolean {
    return this.modules.some((m) => m.role === role);
  }

  insertBefore(role: string, module: StackModule<Req, Res>): Stack<Req, Res> {
    const i = this.#indexOf(role);
    return new Stack([...this.modules.slice(0, i), module, ...this.modules.slice(i)]);
  }

  insertAfter(role: string, module: StackModule<Req, Res>): Stack<Req, Res> {
    const i = this.#indexOf(role);
    return new Stack([...this.modules.slice(0, i + 1), module, ...this.modules.slice(i + 1)]);
  }

  /** Adds a module at the top, the first to see each request. */
  prepend(module: StackModule<Req, Res>): Stack<Req, Res> {
    return new Stack([module, ...this.modules]);
  }

  /** Adds a module at the bottom, just above the terminal service. */
  append(module: StackModule<Req, Res>): Stack<Req, Res> {
    return new Stack([...this.modules, module]);
  }

  replace(role: string, module: StackModule<Req, Res>): Stack<Req, Res> {
    const i = this.#indexOf(role);
    return new Stack([...this.modules.slice(0, i), module, ...this.modules.slice(i + 1)]);
  }

  remove(role: string): Stack<Req, Res> {
    const i = this.#indexOf(role);
    return new Stack([...this.modules.slice(0, i), ...this.modules.slice(i + 1)]);
  }

  /** Builds bottom-up so that the first module is the outermost layer. */
  build(params: Params, terminal: Service<Req, Res>): Service<Req, Res> {
    let service = terminal;
    for (let i = this.modules.length - 1; i >= 0; i--) service = this.modules[i]!.make(params, service);
    return service;
  }

  /** One line per module, top first: what `mesh-sidecar` and docs print. */
  describe(): string {
    return this.modules.map((m) => `${m.role.padEnd(20)} ${m.description}`).join('\n');
  }

  #indexOf(role: string): number {
    const i = this.modules.findIndex((m) => m.role === role);
    if (i < 0) {
      throw new MeshError('INVALID_OPTIONS', `stack has no module with role "${role}"; roles are: ${this.roles().join(', ')}`);
    }
    return i;
  }
}

/** A stack module made from a plain filter function: the easy way to add your own layer. */
export function filterModule<Req, Res>(role: string, description: string, filter: Filter<Req, Res>): StackModule<Req, Res> {
  return { role, description, make: (_params, next) => applyFilter(filter, next) };
}

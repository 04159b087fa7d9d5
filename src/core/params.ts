/**
 * Typed parameters that carry their own defaults (Finagle's Stack.Param). Modules read what they need
 * from one immutable Params bag; code options and YAML config both end up as the same Params.
 *
 * A parameter that is part of a service's policy says where in the policy it comes from
 * (`fromPolicy`), and each stack module lists the parameters it reads, so a client's Params are
 * derived from its stack and its validated policy rather than wired one by one.
 */
import type { ServicePolicy } from './policy.js';

export class Param<T> {
  constructor(
    readonly name: string,
    readonly defaultValue: T,
    readonly fromPolicy?: (policy: ServicePolicy) => T,
  ) {}
}

export class Params {
  static readonly empty = new Params(new Map());

  readonly #values: ReadonlyMap<Param<unknown>, unknown>;

  private constructor(values: ReadonlyMap<Param<unknown>, unknown>) {
    this.#values = values;
  }

  get<T>(param: Param<T>): T {
    return this.#values.has(param) ? (this.#values.get(param) as T) : param.defaultValue;
  }

  has(param: Param<unknown>): boolean {
    return this.#values.has(param);
  }

  with<T>(param: Param<T>, value: T): Params {
    const next = new Map(this.#values);
    next.set(param, value);
    return new Params(next);
  }

  /** These params plus, for each of `params` read from a policy, its value in `policy`. */
  withPolicy(policy: ServicePolicy, params: Iterable<Param<unknown>>): Params {
    const next = new Map(this.#values);
    for (const param of params) if (param.fromPolicy !== undefined) next.set(param, param.fromPolicy(policy));
    return new Params(next);
  }
}

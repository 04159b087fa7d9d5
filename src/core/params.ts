/**
 * Typed parameters that carry their own defaults (Finagle's Stack.Param). Modules read what they need
 * from one immutable Params bag; code options and YAML config both end up as the same Params.
 */
export class Param<T> {
  constructor(
    readonly name: string,
    readonly defaultValue: T,
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
}

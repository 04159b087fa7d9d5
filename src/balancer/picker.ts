/**
 * A Picker chooses one endpoint among the eligible ones. It sees only costs, never the endpoints'
 * internals, so the same picker serves any load metric.
 */
export interface Picker {
  pick<T>(candidates: readonly T[], cost: (candidate: T) => number): T;
}

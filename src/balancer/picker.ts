/**
 * A Picker chooses one endpoint among the eligible ones. It sees each candidate's key and weight and
 * asks for costs, never the endpoints' internals, so the same picker serves any load metric.
 *
 * A candidate list is the same array object for as long as the set it holds is unchanged (the
 * balancer keeps it so), which lets a picker keep what it derives from a list (cumulative weights,
 * a hash ring) keyed by the array itself.
 */
export interface Pickable {
  /** The endpoint's stable identity, `host:port`. */
  readonly key: string;
  /** Relative share of the traffic; 1 unless discovery says otherwise. */
  readonly weight: number;
}

export interface Picker {
  /** `hash`: the request's affinity key, hashed (consistent-hash pickers only; the others ignore it). */
  pick<T extends Pickable>(candidates: readonly T[], cost: (candidate: T) => number, hash?: number): T;
}

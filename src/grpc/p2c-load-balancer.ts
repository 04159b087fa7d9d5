/**
 * meshwork's balancers as grpc-js load-balancing policies: `meshwork_p2c_ewma` (power of two
 * choices over peak-EWMA latency × pending, as in Finagle and Linkerd) and
 * `meshwork_p2c_least_request`. Select one with the channel's service config, e.g.
 * `{ loadBalancingConfig: [{ meshwork_p2c_ewma: {} }] }`. Each endpoint is a grpc-js leaf balancer
 * (one subchannel); the load figures are meshwork's own (src/balancer) and survive re-resolution,
 * so an endpoint that stays keeps its history. A removed endpoint's subchannel is released, and
 * calls already on it finish.
 *
 * Outlier ejection is the HTTP balancer's (src/balancer/outlier-detector.ts, Envoy's semantics) with
 * the service's `outlierDetection` settings, given in the policy's config
 * (`{ meshwork_p2c_ewma: { outlierDetection: { consecutiveFailures, ... } } }`): each call's status,
 * reported by grpc-js on the pick, counts against the endpoint that answered when it is an endpoint
 * failure (policy/grpc-failure-statuses.ts), clears its streak when the endpoint answered otherwise,
 * and counts for nothing when the caller cancelled or the deadline ran out. An ejected endpoint is
 * left out of the picks until its time is up; when every ready endpoint is ejected, all are used
 * (fail open). The channel option `OUTLIER_EVENTS_OPTION` is told of each ejection (for metrics).
 *
 * A traffic split arrives from the resolver as the `SPLIT_ATTRIBUTE` (mesh-name-resolver.ts): every
 * pick, so every attempt as in the HTTP stack, first chooses a destination by weight, then picks
 * among that destination's ready endpoints; a destination with none ready queues the pick while
 * some of its endpoints connect, and fails it with UNAVAILABLE when none can.
 *
 * Endpoint weights from discovery arrive as the `WEIGHTS_ATTRIBUTE`, and the two choices are drawn
 * by the HTTP balancer's P2C picker (src/balancer/p2c-picker.ts), so a weight means the same share
 * over gRPC and HTTP.
 */
import { connectivityState as State, experimental, type ChannelOptions, type Metadata, type status as Status } from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { EndpointLoad } from '../balancer/endpoint-load.js';
import { LeastRequestLoad } from '../balancer/least-request-load.js';
import { newOutlierState, OutlierDetector, type OutlierDetectionOptions, type OutlierState } from '../balancer/outlier-detector.js';
import { PeakEwmaLoad } from '../balancer/peak-ewma-load.js';
import { grpcEndpointOutcome } from '../policy/grpc-failure-statuses.js';
import { p2cPicker } from '../balancer/p2c-picker.js';
import { weightedChoice } from '../balancer/weighted-sample.js';
import type { Picker } from '../balancer/picker.js';
import { SPLIT_ATTRIBUTE, WEIGHTS_ATTRIBUTE, type SplitGroup } from './mesh-name-resolver.js';

export const P2C_EWMA = 'meshwork_p2c_ewma';
export const P2C_LEAST_REQUEST = 'meshwork_p2c_least_request';

/** A channel option: `(endpoint: string) => void`, told of each endpoint the balancer ejects. */
export const OUTLIER_EVENTS_OPTION = 'meshwork.on_endpoint_ejected';

type LoadKind = 'peak-ewma' | 'least-request';

/** What the balancer knows of an endpoint; it outlives the endpoint's leaf while the endpoint is listed. */
interface EndpointHistory {
  load: EndpointLoad;
  outlier: OutlierState;
}

interface Child extends EndpointHistory {
  key: string;
  /** Relative share from discovery, drawn on as the HTTP balancer's P2C does. */
  weight: number;
  leaf: experimental.LeafLoadBalancer;
}

/** The balancer's ejection state, shared by its pickers and their picks. */
class Ejection {
  readonly detector: OutlierDetector | undefined;
  /** Every endpoint, ready or not: maxEjectedPercent is a share of them all. */
  all: readonly Child[] = [];
  ejected = 0;
  readonly #clock: Clock;
  readonly #onEjected: ((endpoint: string) => void) | undefined;

  constructor(options: OutlierDetectionOptions | false, clock: Clock, onEjected: ((endpoint: string) => void) | undefined) {
    this.detector = options === false ? undefined : new OutlierDetector(options, clock);
    this.#clock = clock;
    this.#onEjected = onEjected;
  }

  /** The ready endpoints that may be picked now (readmitting those whose time is up), or all of them when every one is out. */
  admitted(ready: readonly Child[]): readonly Child[] {
    const detector = this.detector!;
    const now = this.#clock.now();
    let ejected = 0;
    for (const child of this.all) if (!detector.readmitIfDue(child.outlier, now)) ejected++;
    this.ejected = ejected;
    const healthy = ready.filter((c) => !detector.isEjected(c.outlier, now));
    return healthy.length > 0 ? healthy : ready;
  }

  /** A call on `child` ended with `code`. */
  record(child: Child, code: Status): void {
    const detector = this.detector;
    if (detector === undefined) return;
    const outcome = grpcEndpointOutcome(code);
    if (outcome === 'answered') detector.onSuccess(child.outlier);
    else if (outcome === 'failure' && this.all.includes(child) && detector.onFailure(child.outlier, this.all.length, this.ejected)) {
      this.ejected++;
      this.#onEjected?.(child.key);
    }
  }
}

/** The policy's config: the service's `outlierDetection` settings, or false. */
interface MeshBalancerConfig extends experimental.TypedLoadBalancingConfig {
  readonly outlierDetection: OutlierDetectionOptions | false;
}

const OUTLIER_FIELDS = ['consecutiveFailures', 'baseEjectionMs', 'maxEjectionMs', 'maxEjectedPercent'] as const;

function configClass(name: string) {
  return class implements MeshBalancerConfig {
    constructor(readonly outlierDetection: OutlierDetectionOptions | false) {}
    getLoadBalancerName() {
      return name;
    }
    toJsonObject() {
      return { [name]: { outlierDetection: this.outlierDetection } };
    }
    static createFromJson(json: unknown) {
      return new this(outlierSettings(name, (json as { outlierDetection?: unknown } | null)?.outlierDetection));
    }
  };
}

function outlierSettings(policy: string, given: unknown): OutlierDetectionOptions | false {
  if (given === undefined) return {};
  if (given === false) return false;
  if (given === null || typeof given !== 'object') throw new MeshError('INVALID_OPTIONS', `${policy} config: outlierDetection must be an object or false, got ${JSON.stringify(given)}`);
  const settings: OutlierDetectionOptions = {};
  for (const field of OUTLIER_FIELDS) {
    const value = (given as Record<string, unknown>)[field];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value >= 0)) throw new MeshError('INVALID_OPTIONS', `${policy} config: outlierDetection.${field} must be a number >= 0, got ${JSON.stringify(value)}`);
    settings[field] = value;
  }
  return settings;
}

function balancerClass(name: string, kind: LoadKind, clock: Clock, random: Random) {
  return class P2cLoadBalancer implements experimental.LoadBalancer {
    readonly #helper: experimental.ChannelControlHelper;
    readonly #childHelper: experimental.ChannelControlHelper;
    #children = new Map<string, Child>();
    // Loads and ejection states outlive children, so an endpoint that re-resolves keeps its history.
    readonly #history = new Map<string, EndpointHistory>();
    #ejection: Ejection | undefined;
    #ejectionConfig: OutlierDetectionOptions | false | undefined;
    #split: readonly SplitGroup[] | undefined;
    #updating = false;

    constructor(helper: experimental.ChannelControlHelper) {
      this.#helper = helper;
      this.#childHelper = experimental.createChildChannelControlHelper(helper, {
        updateState: () => this.#publish(),
      });
    }

    updateAddressList(endpoints: experimental.StatusOr<experimental.Endpoint[]>, config: experimental.TypedLoadBalancingConfig, channelOptions: ChannelOptions, note: string): boolean {
      // The split is the balancer's alone: the leaves get the channel's options as they were, so
      // their subchannels stay shareable and are not remade when the split's endpoints change.
      const { [SPLIT_ATTRIBUTE]: split, [WEIGHTS_ATTRIBUTE]: weights, ...options } = channelOptions;
      this.#split = split as SplitGroup[] | undefined;
      const weightOf = (key: string) => (weights as Record<string, number> | undefined)?.[key] ?? 1;
      if (!endpoints.ok) {
        if (this.#children.size === 0) this.#helper.updateState(State.TRANSIENT_FAILURE, new experimental.UnavailablePicker(endpoints.error), endpoints.error.details);
        return true;
      }
      const outlierDetection = (config as Partial<MeshBalancerConfig>).outlierDetection ?? {};
      if (this.#ejection === undefined || !sameSettings(this.#ejectionConfig, outlierDetection)) {
        this.#ejection = new Ejection(outlierDetection, clock, options[OUTLIER_EVENTS_OPTION] as ((endpoint: string) => void) | undefined);
        this.#ejectionConfig = outlierDetection;
      }
      this.#updating = true;
      const next = new Map<string, Child>();
      for (const endpoint of endpoints.value) {
        const key = experimental.endpointToString(endpoint);
        let child = this.#children.get(key);
        if (child) {
          child.leaf.updateEndpoint(endpoint, options);
          child.weight = weightOf(key);
        } else {
          let history = this.#history.get(key);
          if (!history) {
            history = { load: kind === 'peak-ewma' ? new PeakEwmaLoad(clock.now()) : new LeastRequestLoad(), outlier: newOutlierState() };
            this.#history.set(key, history);
          }
          child = { key, weight: weightOf(key), leaf: new experimental.LeafLoadBalancer(endpoint, this.#childHelper, options, note), load: history.load, outlier: history.outlier };
          child.leaf.startConnecting();
        }
        next.set(key, child);
      }
      for (const [key, child] of this.#children) {
        if (!next.has(key)) {
          child.leaf.destroy();
          this.#history.delete(key);
        }
      }
      this.#children = next;
      const all = [...next.values()];
      this.#ejection.all = all;
      this.#ejection.ejected = all.filter((c) => c.outlier.ejectedUntil !== 0).length;
      this.#updating = false;
      if (next.size === 0) {
        const message = `${name}: no endpoints (${note || 'the resolver returned an empty list'})`;
        this.#helper.updateState(State.TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details: message }), message);
        return true;
      }
      this.#publish();
      return true;
    }

    #publish(): void {
      if (this.#updating) return;
      const children = [...this.#children.values()];
      const ready = children.filter((c) => c.leaf.getConnectivityState() === State.READY);
      if (ready.length > 0) {
        const p2c = new P2cPicker(ready, this.#ejection!, clock, random);
        this.#helper.updateState(State.READY, this.#split === undefined ? p2c : this.#splitPicker(p2c), null);
      } else if (children.some((c) => c.leaf.getConnectivityState() === State.CONNECTING)) {
        this.#helper.updateState(State.CONNECTING, new experimental.QueuePicker(this), null);
      } else if (children.some((c) => c.leaf.getConnectivityState() === State.TRANSIENT_FAILURE)) {
        const message = `${name}: no endpoint is reachable`;
        this.#helper.updateState(State.TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details: message }), message);
      } else {
        this.#helper.updateState(State.IDLE, new experimental.QueuePicker(this), null);
      }
      // Like round_robin, keep every endpoint connected so that any of them can be picked.
      for (const child of children) if (child.leaf.getConnectivityState() === State.IDLE) child.leaf.exitIdle();
    }

    /** Each destination's ready endpoints, or what to do with a pick when it has none. */
    #splitPicker(p2c: P2cPicker): SplitPicker {
      const destinations = this.#split!.map((group): PickTarget => {
        const members = group.endpoints.map((key) => this.#children.get(key)).filter((c): c is Child => c !== undefined);
        const ready = members.filter((c) => c.leaf.getConnectivityState() === State.READY);
        if (ready.length > 0) return { weight: group.weight, ready };
        const connecting = members.some((c) => c.leaf.getConnectivityState() !== State.TRANSIENT_FAILURE);
        const details = `${name}: split destination "${group.destination}" has ${members.length === 0 ? 'no endpoints' : 'no reachable endpoint'}`;
        return { weight: group.weight, ready, otherwise: connecting ? new experimental.QueuePicker(this) : new experimental.UnavailablePicker({ details }) };
      });
      return new SplitPicker(destinations, p2c, random);
    }

    exitIdle(): void {
      for (const child of this.#children.values()) child.leaf.exitIdle();
    }

    resetBackoff(): void {}

    destroy(): void {
      for (const child of this.#children.values()) child.leaf.destroy();
      this.#children.clear();
    }

    getTypeName(): string {
      return name;
    }
  };
}

class P2cPicker implements experimental.Picker {
  readonly #twoChoices: Picker;
  #now = 0;
  readonly #cost = (c: Child) => c.load.cost(this.#now);

  constructor(
    private readonly ready: Child[],
    private readonly ejection: Ejection,
    private readonly clock: Clock,
    random: Random,
  ) {
    this.#twoChoices = p2cPicker(random);
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    return this.pickFrom(this.ready, args);
  }

  pickFrom(candidates: readonly Child[], args: experimental.PickArgs): experimental.PickResult {
    // A copy of the list only while some endpoint is ejected.
    const ready = this.ejection.ejected > 0 ? this.ejection.admitted(candidates) : candidates;
    let chosen = ready[0]!;
    if (ready.length > 1) {
      this.#now = this.clock.now();
      chosen = this.#twoChoices.pick(ready, this.#cost);
    }
    const result = chosen.leaf.getPicker().pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    return new ReportingPick(result, chosen, this.ejection, this.clock);
  }
}

interface PickTarget {
  weight: number;
  ready: Child[];
  /** For a destination with no ready endpoint: queue the pick, or fail it. */
  otherwise?: experimental.Picker;
}

/** Chooses a split destination by weight for each pick, then picks among its endpoints as P2C does. */
class SplitPicker implements experimental.Picker {
  readonly #targets: PickTarget[];
  readonly #choose: () => number;

  constructor(
    targets: PickTarget[],
    private readonly p2c: P2cPicker,
    random: Random,
  ) {
    this.#targets = targets;
    this.#choose = weightedChoice(targets.map((t) => t.weight), random);
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const target = this.#targets[this.#choose()]!;
    return target.otherwise !== undefined ? target.otherwise.pick(args) : this.p2c.pickFrom(target.ready, args);
  }
}

/**
 * A pick that tells the endpoint's load when its call starts and ends, and its ejection state how
 * it ended: one object and one closure per call. grpc-js calls `onCallStarted` on the pick itself,
 * but `onCallEnded` with another `this`, hence the closure, made only for a call that does start.
 */
class ReportingPick implements experimental.PickResult {
  readonly pickResultType = experimental.PickResultType.COMPLETE;
  readonly subchannel: experimental.PickResult['subchannel'];
  readonly status = null;
  onCallEnded: experimental.PickResult['onCallEnded'] = null;
  readonly #inner: experimental.PickResult;
  readonly #child: Child;
  readonly #ejection: Ejection;
  readonly #clock: Clock;

  constructor(inner: experimental.PickResult, child: Child, ejection: Ejection, clock: Clock) {
    this.subchannel = inner.subchannel;
    this.#inner = inner;
    this.#child = child;
    this.#ejection = ejection;
    this.#clock = clock;
  }

  onCallStarted(): void {
    const startedAt = this.#clock.now();
    const child = this.#child;
    child.load.start(startedAt);
    const inner = this.#inner;
    inner.onCallStarted?.();
    this.onCallEnded = (code: Status, details: string, metadata: Metadata) => {
      child.load.end(startedAt, this.#clock.now());
      this.#ejection.record(child, code);
      inner.onCallEnded?.(code, details, metadata);
    };
  }
}

function sameSettings(a: OutlierDetectionOptions | false | undefined, b: OutlierDetectionOptions | false): boolean {
  if (a === undefined || a === false || b === false) return a === b;
  return OUTLIER_FIELDS.every((field) => a[field] === b[field]);
}

/** Registers both policies with grpc-js (once per process is enough; later calls replace them). */
export function registerMeshBalancers(options: { clock?: Clock; random?: Random } = {}): void {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  experimental.registerLoadBalancerType(P2C_EWMA, balancerClass(P2C_EWMA, 'peak-ewma', clock, random), configClass(P2C_EWMA));
  experimental.registerLoadBalancerType(P2C_LEAST_REQUEST, balancerClass(P2C_LEAST_REQUEST, 'least-request', clock, random), configClass(P2C_LEAST_REQUEST));
}

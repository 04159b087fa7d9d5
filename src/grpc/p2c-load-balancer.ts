/**
 * meshwork's balancers as grpc-js load-balancing policies: `meshwork_p2c_ewma` (power of two
 * choices over peak-EWMA latency × pending, as in Finagle and Linkerd) and
 * `meshwork_p2c_least_request`. Select one with the channel's service config, e.g.
 * `{ loadBalancingConfig: [{ meshwork_p2c_ewma: {} }] }`. Each endpoint is a grpc-js leaf balancer
 * (one subchannel); the load figures are meshwork's own (src/balancer) and survive re-resolution,
 * so an endpoint that stays keeps its history. A removed endpoint's subchannel is released, and
 * calls already on it finish.
 */
import { connectivityState as State, experimental, type ChannelOptions, type Metadata, type status as Status } from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../core/clock.js';
import type { EndpointLoad } from '../balancer/endpoint-load.js';
import { LeastRequestLoad } from '../balancer/least-request-load.js';
import { PeakEwmaLoad } from '../balancer/peak-ewma-load.js';

export const P2C_EWMA = 'meshwork_p2c_ewma';
export const P2C_LEAST_REQUEST = 'meshwork_p2c_least_request';

type LoadKind = 'peak-ewma' | 'least-request';

interface Child {
  leaf: experimental.LeafLoadBalancer;
  load: EndpointLoad;
}

function configClass(name: string) {
  return class implements experimental.TypedLoadBalancingConfig {
    getLoadBalancerName() {
      return name;
    }
    toJsonObject() {
      return { [name]: {} };
    }
    static createFromJson() {
      return new this();
    }
  };
}

function balancerClass(name: string, kind: LoadKind, clock: Clock, random: Random) {
  return class P2cLoadBalancer implements experimental.LoadBalancer {
    readonly #helper: experimental.ChannelControlHelper;
    readonly #childHelper: experimental.ChannelControlHelper;
    #children = new Map<string, Child>();
    // Loads outlive children, so an endpoint that re-resolves keeps its latency history.
    readonly #loads = new Map<string, EndpointLoad>();
    #updating = false;

    constructor(helper: experimental.ChannelControlHelper) {
      this.#helper = helper;
      this.#childHelper = experimental.createChildChannelControlHelper(helper, {
        updateState: () => this.#publish(),
      });
    }

    updateAddressList(endpoints: experimental.StatusOr<experimental.Endpoint[]>, _config: experimental.TypedLoadBalancingConfig, options: ChannelOptions, note: string): boolean {
      if (!endpoints.ok) {
        if (this.#children.size === 0) this.#helper.updateState(State.TRANSIENT_FAILURE, new experimental.UnavailablePicker(endpoints.error), endpoints.error.details);
        return true;
      }
      this.#updating = true;
      const next = new Map<string, Child>();
      for (const endpoint of endpoints.value) {
        const key = experimental.endpointToString(endpoint);
        let child = this.#children.get(key);
        if (child) child.leaf.updateEndpoint(endpoint, options);
        else {
          let load = this.#loads.get(key);
          if (!load) {
            load = kind === 'peak-ewma' ? new PeakEwmaLoad(clock.now()) : new LeastRequestLoad();
            this.#loads.set(key, load);
          }
          child = { leaf: new experimental.LeafLoadBalancer(endpoint, this.#childHelper, options, note), load };
          child.leaf.startConnecting();
        }
        next.set(key, child);
      }
      for (const [key, child] of this.#children) {
        if (!next.has(key)) {
          child.leaf.destroy();
          this.#loads.delete(key);
        }
      }
      this.#children = next;
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
        this.#helper.updateState(State.READY, new P2cPicker(ready, clock, random), null);
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
  constructor(
    private readonly ready: Child[],
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    const ready = this.ready;
    let chosen = ready[0]!;
    if (ready.length > 1) {
      const i = Math.floor(this.random() * ready.length);
      let j = Math.floor(this.random() * (ready.length - 1));
      if (j >= i) j++;
      const a = ready[i]!;
      const b = ready[j]!;
      const now = this.clock.now();
      chosen = a.load.cost(now) <= b.load.cost(now) ? a : b;
    }
    const result = chosen.leaf.getPicker().pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    return new LoadReportingPick(result, chosen.load, this.clock);
  }
}

/**
 * A pick that tells the endpoint's load when its call starts and ends: one object and one closure
 * per call. grpc-js calls `onCallStarted` on the pick itself, but `onCallEnded` with another `this`,
 * hence the closure, made only for a call that does start.
 */
class LoadReportingPick implements experimental.PickResult {
  readonly pickResultType = experimental.PickResultType.COMPLETE;
  readonly subchannel: experimental.PickResult['subchannel'];
  readonly status = null;
  onCallEnded: experimental.PickResult['onCallEnded'] = null;
  readonly #inner: experimental.PickResult;
  readonly #load: EndpointLoad;
  readonly #clock: Clock;

  constructor(inner: experimental.PickResult, load: EndpointLoad, clock: Clock) {
    this.subchannel = inner.subchannel;
    this.#inner = inner;
    this.#load = load;
    this.#clock = clock;
  }

  onCallStarted(): void {
    const startedAt = this.#clock.now();
    this.#load.start(startedAt);
    const inner = this.#inner;
    inner.onCallStarted?.();
    this.onCallEnded = (code: Status, details: string, metadata: Metadata) => {
      this.#load.end(startedAt, this.#clock.now());
      inner.onCallEnded?.(code, details, metadata);
    };
  }
}

/** Registers both policies with grpc-js (once per process is enough; later calls replace them). */
export function registerMeshBalancers(options: { clock?: Clock; random?: Random } = {}): void {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  experimental.registerLoadBalancerType(P2C_EWMA, balancerClass(P2C_EWMA, 'peak-ewma', clock, random), configClass(P2C_EWMA));
  experimental.registerLoadBalancerType(P2C_LEAST_REQUEST, balancerClass(P2C_LEAST_REQUEST, 'least-request', clock, random), configClass(P2C_LEAST_REQUEST));
}

/**
 * Traffic split: each attempt goes to a destination chosen by weight — a 90/10 canary, a 100/0
 * blue/green switch, Linkerd's `dstOverrides`, or an Istio route's weighted destinations. Weights
 * are relative; zero means "configured but receiving nothing", which is how a blue/green cut-over
 * is staged. A destination may name a subset of its service's endpoints (Istio's `subset: v2`).
 *
 * The matched route's own split, when it has one, replaces the service's (an Istio VirtualService
 * gives each route its destinations). The chosen destination and subset are written on the call
 * context; the Destinations service at the bottom of the stack holds one balancer per destination,
 * and that balancer keeps to the subset.
 */
import { RandomParam } from '../core/core-params.js';
import { MeshError } from '../core/errors.js';
import type { Random } from '../core/clock.js';
import type { RoutePolicy, SplitDestination } from '../core/policy.js';
import type { CallContext } from '../core/service.js';
import type { HttpModule } from '../http/http-stack.js';
import { RoutesParam, SplitParam } from '../policy/policy-params.js';
import { weightedChoice } from '../balancer/weighted-sample.js';

type Chooser = (ctx: CallContext) => void;

export const splitModule: HttpModule = {
  role: 'split',
  description: 'picks a weighted destination (canary, blue/green, a route\'s subsets) for each attempt',
  params: [SplitParam, RoutesParam, RandomParam],
  make(params, next) {
    const random = params.get(RandomParam);
    const split = params.get(SplitParam);
    const serviceChooser = split.length === 0 ? undefined : chooser(split, 'split', random);
    const byRoute = new Map<RoutePolicy, Chooser>();
    params.get(RoutesParam).forEach((route, i) => {
      if (route.split?.length) byRoute.set(route, chooser(route.split, `routes[${i}] ("${route.name}").split`, random));
    });
    if (serviceChooser === undefined && byRoute.size === 0) return next;
    return {
      call(req, ctx) {
        const choose = (ctx.routePolicy === undefined ? undefined : byRoute.get(ctx.routePolicy)) ?? serviceChooser;
        if (choose !== undefined) choose(ctx);
        return next.call(req, ctx);
      },
      close: () => next.close(),
    };
  },
};

function chooser(split: readonly SplitDestination[], where: string, random: Random): Chooser {
  const total = split.reduce((sum, d) => sum + d.weight, 0);
  if (!(total > 0)) throw new MeshError('INVALID_CONFIG', `${where}: at least one destination needs a weight above 0 (${split.map((d) => `${d.service}=${d.weight}`).join(', ')})`);
  if (split.length === 1) {
    const only = split[0]!;
    return (ctx) => {
      ctx.destination = only.service;
      ctx.subset = only.subset;
    };
  }
  const choose = weightedChoice(split.map((d) => d.weight), random);
  return (ctx) => {
    const chosen = split[choose()]!;
    ctx.destination = chosen.service;
    ctx.subset = chosen.subset;
  };
}

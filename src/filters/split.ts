/**
 * Traffic split: each attempt goes to a destination chosen by weight — a 90/10 canary, a 100/0
 * blue/green switch, or Linkerd's `dstOverrides`. Weights are relative; zero means "configured but
 * receiving nothing", which is how a blue/green cut-over is staged. The chosen destination is written
 * on the call context; the Destinations service at the bottom of the stack holds one balancer each.
 */
import { RandomParam } from '../core/core-params.js';
import { MeshError } from '../core/errors.js';
import type { HttpModule } from '../http/http-stack.js';
import { SplitParam } from '../policy/policy-params.js';


export const splitModule: HttpModule = {
  role: 'split',
  description: 'picks a weighted destination (canary, blue/green) for each attempt',
  params: [SplitParam, RandomParam],
  make(params, next) {
    const split = params.get(SplitParam);
    if (split.length === 0) return next;
    const total = split.reduce((sum, d) => sum + d.weight, 0);
    if (!(total > 0)) throw new MeshError('INVALID_CONFIG', `split: at least one destination needs a weight above 0 (${split.map((d) => `${d.service}=${d.weight}`).join(', ')})`);
    const cumulative: number[] = [];
    let running = 0;
    for (const d of split) cumulative.push((running += d.weight));
    const random = params.get(RandomParam);
    return {
      call(req, ctx) {
        const x = random() * total;
        let i = 0;
        while (i < cumulative.length - 1 && x >= cumulative[i]!) i++;
        ctx.destination = split[i]!.service;
        return next.call(req, ctx);
      },
      close: () => next.close(),
    };
  },
};


/**
 * Builds one filter module over an in-memory terminal service, for testing a filter on its own:
 * the terminal records what reached it and answers with a given status, after an optional delay on
 * the injected clock.
 */
import type { Readable } from 'node:stream';
import { ManualClock, seededRandom, type Clock } from '../../src/core/clock.js';
import { ClockParam, CountersParam, RandomParam, ServiceName } from '../../src/core/core-params.js';
import { Counters } from '../../src/core/counters.js';
import type { Param } from '../../src/core/params.js';
import { Params } from '../../src/core/params.js';
import { newCallContext, type CallContext } from '../../src/core/service.js';
import type { HttpModule, HttpService } from '../../src/client/default-stack.js';
import type { MeshRequest, MeshResponse } from '../../src/http/http-types.js';
import { syntheticResponse } from '../../src/policy/synthetic-response.js';

export interface Harness {
  service: HttpService;
  clock: ManualClock;
  counters: Counters;
  seen: { req: MeshRequest; ctx: CallContext }[];
  call(req?: Partial<MeshRequest>): Promise<MeshResponse>;
  status: number;
  delayMs: number;
}

export function harness(modules: HttpModule[], settings: [Param<unknown>, unknown][], seed = 1): Harness {
  const clock = new ManualClock();
  const counters = new Counters();
  let params = Params.empty.with(ServiceName, 'svc').with(ClockParam, clock as Clock).with(RandomParam, seededRandom(seed)).with(CountersParam, counters);
  for (const [param, value] of settings) params = params.with(param, value);
  const h: Harness = {
    service: undefined as unknown as HttpService,
    clock,
    counters,
    seen: [],
    status: 200,
    delayMs: 0,
    call: (req = {}) => h.service.call({ method: 'GET', path: '/', ...req } as MeshRequest, newCallContext('svc')),
  };
  const terminal: HttpService = {
    call(req, ctx) {
      h.seen.push({ req, ctx: { ...ctx } });
      const respond = () => syntheticResponse(h.status, {}, 'ok');
      if (h.delayMs === 0) return Promise.resolve(respond());
      return new Promise((resolve, reject) => {
        const timer = clock.setTimer(() => resolve(respond()), h.delayMs);
        ctx.signal?.addEventListener('abort', () => {
          timer.cancel();
          reject(ctx.signal!.reason);
        });
      });
    },
    close: async () => {},
  };
  let service = terminal;
  for (let i = modules.length - 1; i >= 0; i--) service = modules[i]!.make(params, service);
  h.service = service;
  return h;
}

export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
export type { Readable };

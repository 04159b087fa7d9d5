/**
 * A child process holding N HTTP backends on 127.0.0.1, so the backends' timers and sockets do not
 * share the measuring process's event loop. Each answers after a base latency with a little jitter;
 * the parent can make one slow (or fail) at any time by a control request, and read hit counts.
 * A backend can also have a heavy tail of its own (a share of its requests, drawn independently,
 * `tailFactor` times slower), and a request carrying `x-bench-slow: <factor>` is that much slower
 * wherever it goes (the request itself is expensive: every replica is slow for it together).
 *
 * Run directly: `node --import tsx benchmarks/lib/latency-backends.ts <count> <baseMs>`; it prints
 * one JSON line `{ ports, control }` when listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startChildServer } from './child-server.js';

export interface BackendFleet {
  ports: number[];
  /**
   * Multiply backend `index`'s latency by `factor` (1 restores it); `status` makes it answer that;
   * `tailPercent` of its requests (default none) take `tailFactor` times longer.
   */
  set(index: number, change: { factor?: number; status?: number; tailPercent?: number; tailFactor?: number }): Promise<void>;
  hits(): Promise<number[]>;
  resetHits(): Promise<void>;
  stop(): void;
}

export async function startFleet(count: number, baseMs: number): Promise<BackendFleet> {
  const { info, stop } = await startChildServer<{ ports: number[]; control: number }>(import.meta.url, [count, baseMs], 'backend fleet');
  const { ports, control } = info;
  const call = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${control}${path}`, { method: 'POST' });
    return res.json() as Promise<unknown>;
  };
  return {
    ports,
    set: async (index, change) => {
      await call(`/set?index=${index}&factor=${change.factor ?? 1}&status=${change.status ?? 200}&tailPercent=${change.tailPercent ?? 0}&tailFactor=${change.tailFactor ?? 1}`);
    },
    hits: async () => (await call('/hits')) as number[],
    resetHits: async () => {
      await call('/reset');
    },
    stop,
  };
}

function runFleet(count: number, baseMs: number): void {
  const factor = new Array<number>(count).fill(1);
  const status = new Array<number>(count).fill(200);
  const hits = new Array<number>(count).fill(0);
  const tailPercent = new Array<number>(count).fill(0);
  const tailFactor = new Array<number>(count).fill(1);
  const listen = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
    new Promise<number>((resolve) => {
      const server = createServer({ keepAliveTimeout: 60_000 }, handler);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const backends = Array.from({ length: count }, (_, i) =>
    listen((req, res) => {
      hits[i]!++;
      req.resume();
      // ±20% jitter so percentiles are not all one value.
      const answer = () => {
        res.writeHead(status[i]!, { 'content-type': 'text/plain' });
        res.end('{"reviews":[{"id":1,"stars":5}],"ok":true}');
      };
      if (baseMs === 0) return answer();
      const tail = Math.random() * 100 < tailPercent[i]! ? tailFactor[i]! : 1;
      const expensive = Number(req.headers['x-bench-slow'] ?? 1) || 1;
      setTimeout(answer, baseMs * factor[i]! * tail * expensive * (0.8 + Math.random() * 0.4));
    }),
  );
  const control = listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/set') {
      const i = Number(url.searchParams.get('index'));
      factor[i] = Number(url.searchParams.get('factor') ?? 1);
      status[i] = Number(url.searchParams.get('status') ?? 200);
      tailPercent[i] = Number(url.searchParams.get('tailPercent') ?? 0);
      tailFactor[i] = Number(url.searchParams.get('tailFactor') ?? 1);
    } else if (url.pathname === '/reset') {
      hits.fill(0);
    }
    res.end(JSON.stringify(url.pathname === '/hits' ? hits : { ok: true }));
  });
  void Promise.all([Promise.all(backends), control]).then(([ports, controlPort]) => {
    process.stdout.write(`${JSON.stringify({ ports, control: controlPort })}\n`);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runFleet(Number(process.argv[2] ?? 1), Number(process.argv[3] ?? 1));

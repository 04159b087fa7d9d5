/**
 * A backend with a fixed capacity, in a child process: `workers` requests are served at once, each
 * taking `serviceMs` (±10%), and the rest wait in an unbounded first-in first-out queue, as in a
 * thread-pool server. A request whose caller has gone by the time a worker takes it is still
 * worked on (the server cannot know), which is what makes an unlimited queue collapse: the workers
 * spend their time on answers nobody waits for.
 *
 * Run directly: `node --import tsx benchmarks/lib/capacity-backend.ts <workers> <serviceMs>`; it
 * prints one JSON line `{ port }` when listening.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startChildServer } from './child-server.js';

export interface CapacityBackend {
  port: number;
  stop(): void;
}

export async function startCapacityBackend(workers: number, serviceMs: number): Promise<CapacityBackend> {
  const { info, stop } = await startChildServer<{ port: number }>(import.meta.url, [workers, serviceMs], 'capacity backend');
  return { port: info.port, stop };
}

function runBackend(workers: number, serviceMs: number): void {
  const queue: ServerResponse[] = [];
  let busy = 0;
  const take = (): void => {
    while (busy < workers && queue.length > 0) {
      const res = queue.shift()!;
      busy++;
      setTimeout(() => {
        busy--;
        if (!res.destroyed) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('done');
        }
        take();
      }, serviceMs * (0.9 + Math.random() * 0.2));
    }
  };
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    queue.push(res);
    take();
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runBackend(Number(process.argv[2] ?? 4), Number(process.argv[3] ?? 20));

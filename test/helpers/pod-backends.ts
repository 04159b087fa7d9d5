/**
 * Backends that behave like a Service's pods: each on its own loopback address (127.0.0.2,
 * 127.0.0.3, ...) and all on one port, as pods share a container port and differ by IP, so one
 * EndpointSlice lists them all. A pod stops gracefully, as an app does on SIGTERM: no new
 * connections, requests in flight finish. `/slow` answers after `slowMs`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Pod {
  readonly ip: string;
  readonly port: number;
  /** When each request arrived (performance.now()). */
  readonly arrivals: number[];
  stop(): Promise<void>;
}

async function listen(ip: string, port: number, slowMs: number): Promise<Pod> {
  const arrivals: number[] = [];
  const server: Server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
    arrivals.push(performance.now());
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain', 'x-pod': ip }).end(ip);
    if (req.url === '/slow') setTimeout(answer, slowMs);
    else answer();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  return {
    ip,
    port: (server.address() as AddressInfo).port,
    arrivals,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** Pods on 127.0.0.<first>, <first + 1>, ... sharing one free port. */
export async function startPods(count: number, options: { first?: number; port?: number; slowMs?: number } = {}): Promise<Pod[]> {
  const first = options.first ?? 2;
  const slowMs = options.slowMs ?? 300;
  const pods: Pod[] = [];
  let port = options.port ?? 0;
  for (let i = 0; i < count; i++) {
    const pod = await listen(`127.0.0.${first + i}`, port, slowMs);
    port = pod.port;
    pods.push(pod);
  }
  return pods;
}

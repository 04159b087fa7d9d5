/**
 * Real HTTP servers on 127.0.0.1 ephemeral ports for tests: each counts the requests it served and
 * answers with a behaviour the test can change while it runs (delay, status, or refusing to exist).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BackendBehaviour {
  /** Milliseconds to wait before answering. */
  delayMs?: number;
  /** Status code to answer with. Default 200. */
  status?: number;
  /** Statuses for the next requests, consumed one per request before `status` applies. */
  script?: number[];
}

export interface TestBackend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** Requests served since start (or the last reset). */
  hits: number;
  /** The bodies of requests received, in order. */
  readonly bodies: Buffer[];
  behaviour: BackendBehaviour;
  /** Stops listening and drops open connections (a killed backend). */
  stop(): Promise<void>;
  /** Listens again on the same port (a restarted backend). */
  restart(): Promise<void>;
}

export async function startBackend(name: string, behaviour: BackendBehaviour = {}, port = 0): Promise<TestBackend> {
  let server: Server;
  const backend: TestBackend = {
    name,
    port: 0,
    address: '',
    hits: 0,
    bodies: [],
    behaviour,
    stop: () => closeServer(server),
    restart: async () => {
      server = makeServer();
      await listen(server, backend.port);
    },
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      backend.hits++;
      backend.bodies.push(Buffer.concat(chunks));
      const answer = () => {
        const body = JSON.stringify({ backend: name, path: req.url, method: req.method, headers: req.headers });
        const status = backend.behaviour.script?.shift() ?? backend.behaviour.status ?? 200;
        res.writeHead(status, { 'content-type': 'application/json', 'x-backend': name });
        res.end(body);
      };
      const delay = backend.behaviour.delayMs ?? 0;
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  };
  const makeServer = () => {
    const s = createServer({ keepAliveTimeout: 10_000 }, handle);
    return s;
  };
  server = makeServer();
  await listen(server, port);
  const actual = (server.address() as AddressInfo).port;
  (backend as { port: number }).port = actual;
  (backend as { address: string }).address = `127.0.0.1:${actual}`;
  return backend;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startBackends(count: number, prefix = 'b'): Promise<TestBackend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => startBackend(`${prefix}${i + 1}`)));
}

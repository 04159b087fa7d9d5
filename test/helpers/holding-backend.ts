/**
 * A real HTTP server on 127.0.0.1 whose every request the test sees as an event, with its headers
 * and body, and may hold: a held request gets no answer until the test releases it, so that "the
 * first attempt is slow" or "the mirror never answers" needs no timer. A held request whose client
 * gives up reports it (`closed`), which is how a test sees a cancelled attempt.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventQueue } from './event-queue.js';

export interface SeenRequest {
  backend: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Answers a held request (a request that was not held has been answered already). */
  release(status?: number): void;
  /** Resolves when the client closed the connection before an answer was written. */
  closed: Promise<void>;
}

export interface HoldingBackend {
  readonly name: string;
  readonly address: string;
  /** Every request, as it arrives (its body read). */
  readonly requests: EventQueue<SeenRequest>;
  /** Whether to hold the next request rather than answer it; return a status to answer with that one. */
  decide: (req: SeenRequest) => 'hold' | number;
  stop(): Promise<void>;
}

export async function startHoldingBackend(name: string, decide: HoldingBackend['decide'] = () => 200): Promise<HoldingBackend> {
  const requests = new EventQueue<SeenRequest>();
  let server: Server;
  const backend: HoldingBackend = {
    name,
    address: '',
    requests,
    decide,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let answered = false;
      const answer = (status = 200) => {
        if (answered || res.destroyed) return;
        answered = true;
        res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': name });
        res.end(`${name} ${status}`);
      };
      const closed = new Promise<void>((resolve) => res.on('close', () => (answered ? undefined : resolve())));
      const seen: SeenRequest = { backend: name, method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks), release: answer, closed };
      const decision = backend.decide(seen);
      if (decision !== 'hold') answer(decision);
      requests.push(seen);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (backend as { address: string }).address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return backend;
}

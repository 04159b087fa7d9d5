/**
 * A fixed admin port for the command-line views' golden tests: the summary, running config and tap
 * stream a sidecar would serve, with every kind of row (outbound and inbound, routes and the default
 * route, a retried request, an error, gRPC, an ejected endpoint, breakers closed, open and
 * half-open), served by a real HTTP server on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MeshSummary } from '../../../src/admin/mesh-summary.js';
import type { TapEvent } from '../../../src/admin/tap-bus.js';

const latency = (p50: number | null, p95: number | null, p99: number | null) => ({ p50, p95, p99 });
const noEvents = { faultsPerSecond: 0, limitedPerSecond: 0, timeoutsPerSecond: 0, deniedPerSecond: 0 };
const budget = { available: 97, retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

export const SUMMARY: MeshSummary = {
  self: 'spiffe://cluster.local/ns/default/sa/simon',
  windowMs: 10_000,
  coveredMs: 10_000,
  services: [
    {
      direction: 'inbound',
      name: 'simon',
      requests: 500,
      successRate: 0.998,
      rps: 50,
      latencyMs: latency(12.4, 48.25, 97.5),
      retries: { perSecond: 0, budgetExhaustedPerSecond: 0, budget: null },
      breaker: null,
      ...noEvents,
      deniedPerSecond: 0.1,
      routes: [{ route: 'default', requests: 500, successRate: 0.998, rps: 50, latencyMs: latency(12.4, 48.25, 97.5) }],
      endpoints: [],
    },
    {
      direction: 'outbound',
      name: 'capitalizer',
      requests: 480,
      successRate: 1,
      rps: 48,
      latencyMs: latency(2.1, 104.2, 108.9),
      retries: { perSecond: 0, budgetExhaustedPerSecond: 0, budget },
      breaker: { state: 'half-open', probeInMs: null },
      ...noEvents,
      faultsPerSecond: 4.8,
      routes: [{ route: 'default', requests: 480, successRate: 1, rps: 48, latencyMs: latency(2.1, 104.2, 108.9) }],
      endpoints: [{ destination: 'capitalizer', address: '10.0.0.5:4143', pending: 1, ewmaMs: 2.5, ejected: false, ejectedForMs: 0 }],
    },
    {
      direction: 'outbound',
      name: 'ratings',
      requests: 0,
      successRate: null,
      rps: 0,
      latencyMs: latency(null, null, null),
      retries: { perSecond: 0, budgetExhaustedPerSecond: 0, budget: null },
      breaker: { state: 'open', probeInMs: 4_200 },
      ...noEvents,
      routes: [],
      endpoints: [{ destination: 'ratings', address: '10.0.0.9:4143', pending: 0, ewmaMs: null, ejected: true, ejectedForMs: 21_000 }],
    },
    {
      direction: 'outbound',
      name: 'words',
      requests: 495,
      successRate: 0.9939,
      rps: 49.5,
      latencyMs: latency(4.25, 9.8, 23.75),
      retries: { perSecond: 6.3, budgetExhaustedPerSecond: 0, budget },
      breaker: { state: 'closed', probeInMs: null },
      ...noEvents,
      limitedPerSecond: 0.2,
      routes: [
        { route: 'GET /words/{id}', requests: 450, successRate: 0.9956, rps: 45, latencyMs: latency(4.1, 9.6, 22.5) },
        { route: 'default', requests: 45, successRate: 0.9778, rps: 4.5, latencyMs: latency(5.9, 11.2, 30) },
      ],
      endpoints: [
        { destination: 'words', address: '10.0.0.1:4143', pending: 2, ewmaMs: 4.2, ejected: false, ejectedForMs: 0 },
        { destination: 'words', address: '10.0.0.2:4143', pending: 0, ewmaMs: 31.5, ejected: true, ejectedForMs: 12_500 },
        { destination: 'words-v2', address: '10.0.0.3:4143', pending: 0, ewmaMs: 4.8, ejected: false, ejectedForMs: 0 },
      ],
    },
  ],
  edges: [
    { from: 'spiffe://cluster.local/ns/shop/sa/web', to: 'spiffe://cluster.local/ns/default/sa/simon', requests: 500, successRate: 0.998, rps: 50 },
    { from: 'spiffe://cluster.local/ns/default/sa/simon', to: 'capitalizer', requests: 480, successRate: 1, rps: 48 },
    { from: 'spiffe://cluster.local/ns/default/sa/simon', to: 'words', requests: 495, successRate: 0.9939, rps: 49.5 },
  ],
  tap: { enabled: true },
  untracked: 0,
};

const event = (fields: Partial<TapEvent>): TapEvent => ({
  type: 'request',
  id: 1,
  time: '2026-11-01T12:00:00.000Z',
  direction: 'outbound',
  service: 'words',
  authority: 'words',
  method: 'GET',
  path: '/words/1',
  route: 'GET /words/{id}',
  endpoint: '10.0.0.1:4143',
  statusCode: 200,
  grpcStatus: null,
  classification: 'success',
  error: null,
  latencyMs: 4.25,
  attempts: 1,
  tls: null,
  clientId: null,
  requestHeaders: { 'x-request-id': 'r-1' },
  responseHeaders: { 'content-type': 'text/plain' },
  ...fields,
});

export const TAP_EVENTS: TapEvent[] = [
  event({ id: 1 }),
  event({ id: 2, path: '/words/2?lang=en', endpoint: '10.0.0.3:4143', latencyMs: 31.5, attempts: 2 }),
  event({ id: 3, service: 'ratings', authority: 'ratings', path: '/ratings/7', route: 'default', endpoint: '10.0.0.9:4143', statusCode: null, classification: 'failure', error: 'CONNECT_FAILED', latencyMs: 1.02, attempts: 3 }),
  event({ id: 4, direction: 'inbound', service: 'app', authority: 'simon', method: 'POST', path: '/greeter.Greeter/SayHello', route: 'default', endpoint: '127.0.0.1:8080', grpcStatus: 14, classification: 'failure', latencyMs: 12.5, tls: true, clientId: 'spiffe://cluster.local/ns/shop/sa/web' }),
  event({ id: 5, path: '/words/1', latencyMs: 2.5 }),
];

export interface FakeAdmin {
  readonly address: string;
  /** Another loopback port that takes connections, standing for the sidecar's outbound listener. */
  readonly outbound: string;
  /** Query strings /api/tap was asked with. */
  readonly tapQueries: string[];
  close(): Promise<void>;
}

/** `tap: 'end'` ends each tap stream after the events, as a sidecar whose tap was turned off does. */
export async function startFakeAdmin(options: { tap: 'end' | 'open'; pendingRestart?: string[]; configError?: string | null }): Promise<FakeAdmin> {
  const tapQueries: string[] = [];
  const listener = await listen(createServer((_req, res) => res.end()));
  const outbound = `127.0.0.1:${(listener.address() as AddressInfo).port}`;
  const server = await listen(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      const json = (value: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      switch (url.pathname) {
        case '/live':
        case '/ready':
          return res.end(`${url.pathname.slice(1)}\n`);
        case '/api/summary':
          return json(SUMMARY);
        case '/config':
          return json({ configError: options.configError ?? null, sidecar: { outbound, inbound: 'off', admin: 'x', pendingRestart: options.pendingRestart ?? [] } });
        case '/api/tap': {
          tapQueries.push(url.search);
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          const lines = [{ type: 'tap', filter: {} }, TAP_EVENTS[0], { type: 'skipped', rateLimited: 7, slowReader: 0 }, ...TAP_EVENTS.slice(1)];
          res.write(lines.map((m) => `${JSON.stringify(m)}\n`).join(''));
          if (options.tap === 'end') res.end(`${JSON.stringify({ type: 'end', reason: 'tap was turned off in the config' })}\n`);
          return;
        }
        default:
          res.writeHead(404);
          return res.end();
      }
    }),
  );
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    outbound,
    tapQueries,
    async close() {
      server.closeAllConnections();
      listener.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => listener.close(r))]);
    },
  };
}

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * A service's HTTP client and its grpcClients draw on ONE retry budget, as the README promises:
 * retries spent over HTTP leave none for gRPC and the other way round, and a config reload keeps
 * the budget unless it changes the budget's settings.
 *
 * The backend is one port that serves both, as apps behind cmux or grpc-gateway do: a connection
 * that opens with the HTTP/2 preface goes to a real grpc-js server, any other to an HTTP/1.1 server.
 * Both always fail (503, UNAVAILABLE), so every attempt beyond the first is a retry the budget paid for.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, ManualClock, type Mesh, type MeshClientOptions } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { metricValue } from '../helpers/sidecar-process.js';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  get: { path: '/test.Books/Get', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const BooksClient = grpc.makeGenericClientConstructor(service, 'Books');
type Books = grpc.Client & { get: (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void };

const hits = { http: 0, grpc: 0 };
let address = '';
let grpcServer: grpc.Server;
const sockets = new Set<Socket>();
const front = createTcpServer((socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  socket.once('data', (first: Buffer) => {
    socket.pause();
    socket.unshift(first);
    if (first.subarray(0, 3).toString() === 'PRI') injector.injectConnection(socket);
    else {
      http1.emit('connection', socket);
      socket.resume();
    }
  });
});
const http1 = createHttpServer((_req, res) => {
  hits.http++;
  res.writeHead(503).end('down');
});
let injector: ReturnType<grpc.Server['createConnectionInjector']>;
let dir: string;

before(async () => {
  grpcServer = new grpc.Server();
  grpcServer.addService(service, {
    get: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
      hits.grpc++;
      callback({ code: grpc.status.UNAVAILABLE, details: 'down' });
    },
  });
  injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(front.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'meshwork-shared-budget-'));
});
after(async () => {
  injector.destroy();
  grpcServer.forceShutdown();
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => front.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/**
 * Exactly one retry in the budget (a 1 s reserve of 1 retry/s, no share of traffic), on a clock that
 * never moves so the spent retry never expires; random 0 makes every HTTP backoff wait zero on it.
 */
const oneRetry: NonNullable<MeshClientOptions['retries']> = { budget: { retryRatio: 0, minRetriesPerSecond: 1, ttl: '1s' }, backoff: { base: 1, max: 1 } };

function meshOf(...names: string[]): Mesh {
  const options: MeshClientOptions = { endpoints: [address], retries: oneRetry, circuitBreaker: false, outlierDetection: false };
  return createMesh({ services: Object.fromEntries(names.map((name) => [name, options])), clock: new ManualClock(), random: () => 0 });
}

/** Counts the attempts one HTTP GET made (503 every time) and returns them. */
async function httpAttempts(mesh: Mesh, name: string): Promise<number> {
  const before = hits.http;
  const res = await mesh.client(name).request({ method: 'GET', path: '/books/1' });
  assert.equal(res.statusCode, 503);
  await res.body.dump();
  return hits.http - before;
}

/**
 * Counts the attempts one unary gRPC call made (UNAVAILABLE every time) and returns them. grpcClient
 * waits its backoffs (at most 1 ms here) on the mesh's clock, so a ManualClock is moved on 1 ms at a
 * time until the call ends: far from the budget's 1 s.
 */
async function grpcAttempts(client: Books, clock?: ManualClock): Promise<number> {
  const before = hits.grpc;
  let done = false;
  const ended = new Promise<grpc.ServiceError | null>((resolve) => client.get(Buffer.from('1'), (e) => ((done = true), resolve(e))));
  while (clock !== undefined && !done) {
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(1);
  }
  const err = await ended;
  assert.equal(err?.code, grpc.status.UNAVAILABLE);
  return hits.grpc - before;
}

const metric = async (mesh: Mesh, name: string, authority: string) => metricValue(await mesh.registry.metrics(), name, { authority });

test('retries spent over HTTP leave none for gRPC, and retries spent over gRPC leave none for HTTP', async () => {
  const mesh = meshOf('http-first', 'grpc-first');
  const httpFirst = grpcClient(mesh, BooksClient, 'http-first') as unknown as Books;
  const grpcFirst = grpcClient(mesh, BooksClient, 'grpc-first') as unknown as Books;
  try {
    assert.equal(await httpAttempts(mesh, 'http-first'), 2, 'HTTP takes the one retry');
    assert.equal(await grpcAttempts(httpFirst, mesh.clock as ManualClock), 1, 'so the gRPC call is not retried');
    assert.equal(await metric(mesh, 'meshwork_retries_total', 'http-first'), 1);
    assert.equal(await metric(mesh, 'meshwork_retry_budget_exhausted_total', 'http-first'), 2, 'HTTP\'s second retry, then gRPC\'s first');

    assert.equal(await grpcAttempts(grpcFirst, mesh.clock as ManualClock), 2, 'gRPC takes the one retry');
    assert.equal(await httpAttempts(mesh, 'grpc-first'), 1, 'so the HTTP request is not retried');
    assert.equal(await metric(mesh, 'meshwork_retries_total', 'grpc-first'), 1);
    assert.equal(await metric(mesh, 'meshwork_retry_budget_exhausted_total', 'grpc-first'), 2);
  } finally {
    httpFirst.close();
    grpcFirst.close();
    await mesh.close();
  }
});

test('a reload keeps the budget unless it changes the budget settings, and grpcClients follow the new one', async () => {
  const file = join(dir, 'mesh.yaml');
  const yaml = (budget: string, timeout: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    books:
      endpoints: ["${address}"]
      timeout: ${timeout}
      circuitBreaker: false
      outlierDetection: false
      retries: { budget: ${budget}, backoff: { base: 1ms, max: 1ms } }
`;
  // An empty budget: no retry at all, whatever the clock does.
  await writeFile(file, yaml('{ retryRatio: 0, minRetriesPerSecond: 0 }', '5s'));
  const mesh = createMesh({ config: file });
  const books = grpcClient(mesh, BooksClient, 'books') as unknown as Books;
  const reloaded = async (generation: number) => {
    const deadline = Date.now() + 10_000;
    while (mesh.configGeneration < generation) {
      assert.ok(Date.now() < deadline, `config generation ${generation} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    const first = mesh.client('books').retryBudget;
    assert.equal(await grpcAttempts(books), 1);

    await writeFile(file, yaml('{ retryRatio: 0, minRetriesPerSecond: 0 }', '6s'));
    await reloaded(2);
    assert.equal(mesh.client('books').settings.policy.timeouts?.totalMs, 6_000);
    assert.equal(mesh.client('books').retryBudget, first, 'same budget settings: the same budget');
    assert.equal(await grpcAttempts(books), 1);

    await writeFile(file, yaml('{ retryRatio: 0, minRetriesPerSecond: 10 }', '6s'));
    await reloaded(3);
    assert.notEqual(mesh.client('books').retryBudget, first, 'new settings: a new budget');
    assert.equal(await grpcAttempts(books), 4, 'the grpcClient made before the reload draws on the new budget');
  } finally {
    books.close();
    await mesh.close();
  }
});

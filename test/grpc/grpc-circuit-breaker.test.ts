/**
 * grpcClient's circuit breaker, against real grpc-js servers: it counts every attempt (it sits below
 * retries), refuses at once with UNAVAILABLE naming CIRCUIT_OPEN while open, never retries a refusal,
 * lets one probe through after the reset timeout, and is the very breaker the service's HTTP client
 * counts in and obeys. The mesh runs on a ManualClock, so the test decides when the reset timeout is over.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { isMeshError, type MeshClientOptions } from '../../src/index.js';
import { booksMesh, callOnce, startScriptedServer, type ScriptedServer } from '../helpers/scripted-grpc-server.js';

let server: ScriptedServer;
before(async () => {
  server = await startScriptedServer('books', grpc.status.UNAVAILABLE);
});
after(() => server.close());

/** Opens after 3 attempts in the window when more than half failed; probes after 1 s. */
const breaker: NonNullable<MeshClientOptions['circuitBreaker']> = { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeout: '1s', rollingWindow: '10s' };

const meshWith = (options: Partial<MeshClientOptions>) => booksMesh({ endpoints: [server.address], outlierDetection: false, circuitBreaker: breaker, ...options });

test('failed attempts open the circuit; then calls are refused at once with UNAVAILABLE naming CIRCUIT_OPEN, and a refused retry is not retried', async () => {
  const { mesh, clock, books, metric } = meshWith({ retries: { maxAttempts: 2, backoff: { base: 1, max: 1 }, budget: { minRetriesPerSecond: 100 } } });
  server.otherwise = grpc.status.UNAVAILABLE;
  server.arrivals = 0;
  try {
    const first = await callOnce(books, { clock });
    assert.equal(first.err?.code, grpc.status.UNAVAILABLE);
    assert.equal(server.arrivals, 2, 'the first call: an attempt and its retry, two outcomes');
    // The second call's first attempt is the third failure: the circuit opens, and its retry is refused.
    const second = await callOnce(books, { clock });
    assert.equal(server.arrivals, 3, 'the retry never reached the server');
    assert.equal(second.err?.code, grpc.status.UNAVAILABLE);
    assert.match(second.err!.details, /^CIRCUIT_OPEN: service "books": circuit breaker is open/);
    const third = await callOnce(books, { clock });
    assert.match(third.err!.details, /CIRCUIT_OPEN/);
    assert.equal(server.arrivals, 3, 'an open circuit sends nothing');
    assert.equal(await metric('meshwork_breaker_open_total'), 1);
    assert.equal(await metric('meshwork_breaker_rejected_total'), 2);
    assert.equal(await metric('meshwork_retries_total'), 2, "the first call's retry and the second's, which the breaker refused");
    assert.equal(mesh.client('books').status().breaker?.state, 'open');
  } finally {
    books.close();
    await mesh.close();
  }
});

test('after the reset timeout one call probes: a success closes the circuit, a failure reopens it', async () => {
  const { mesh, clock, books, metric } = meshWith({ retries: false });
  server.otherwise = grpc.status.INTERNAL;
  server.arrivals = 0;
  try {
    for (let i = 0; i < 3; i++) await callOnce(books);
    assert.match((await callOnce(books)).err!.details, /CIRCUIT_OPEN/);
    clock.advance(1_000);
    assert.equal((await callOnce(books)).err?.code, grpc.status.INTERNAL, 'the probe reached the server and failed');
    assert.equal(server.arrivals, 4);
    assert.match((await callOnce(books)).err!.details, /CIRCUIT_OPEN.*in 1000 ms/, 'reopened for another reset timeout');
    clock.advance(1_000);
    server.otherwise = 'ok';
    assert.equal((await callOnce(books)).res, 'books', 'a good probe');
    assert.equal((await callOnce(books)).res, 'books', 'closed again');
    assert.equal(mesh.client('books').status().breaker?.state, 'closed');
    assert.equal(await metric('meshwork_breaker_open_total'), 2);
  } finally {
    books.close();
    await mesh.close();
  }
});

test("statuses that describe the request, not the service (NOT_FOUND, INVALID_ARGUMENT, a caller's cancel) never open the circuit", async () => {
  const { mesh, books } = meshWith({ retries: false });
  server.arrivals = 0;
  try {
    server.otherwise = grpc.status.NOT_FOUND;
    for (let i = 0; i < 3; i++) assert.equal((await callOnce(books)).err?.code, grpc.status.NOT_FOUND);
    server.otherwise = grpc.status.INVALID_ARGUMENT;
    for (let i = 0; i < 3; i++) assert.equal((await callOnce(books)).err?.code, grpc.status.INVALID_ARGUMENT);
    server.otherwise = 'hang';
    for (let i = 0; i < 3; i++) {
      const arrived = new Promise<void>((resolve) => (server.onArrival = resolve));
      const call = books.echo(Buffer.from('x'), new grpc.Metadata(), {}, () => {});
      await arrived;
      call.cancel();
    }
    server.onArrival = undefined;
    server.otherwise = 'ok';
    assert.equal((await callOnce(books)).res, 'books');
    assert.equal(mesh.client('books').status().breaker?.state, 'closed');
    assert.equal(server.arrivals, 10);
  } finally {
    books.close();
    await mesh.close();
  }
});

test("one breaker per service: gRPC failures open it for the service's HTTP requests, and HTTP failures for its gRPC calls", async () => {
  // gRPC opens it; an HTTP request is then refused with CIRCUIT_OPEN before anything is sent.
  const grpcFirst = meshWith({ retries: false });
  server.otherwise = grpc.status.UNAVAILABLE;
  try {
    for (let i = 0; i < 3; i++) await callOnce(grpcFirst.books);
    assert.equal(grpcFirst.mesh.client('books').circuitBreaker?.state(grpcFirst.clock.now()), 'open');
    await assert.rejects(grpcFirst.mesh.client('books').request({ method: 'GET', path: '/' }), (err: unknown) => isMeshError(err, 'CIRCUIT_OPEN'));
  } finally {
    grpcFirst.books.close();
    await grpcFirst.mesh.close();
  }
  // HTTP/1.1 requests to a gRPC-only server fail (the server drops a connection without the HTTP/2
  // preface): three of them open the circuit, and the gRPC call is refused without reaching the server.
  const httpFirst = meshWith({ retries: false });
  server.otherwise = 'ok';
  server.arrivals = 0;
  try {
    for (let i = 0; i < 3; i++) await assert.rejects(httpFirst.mesh.client('books').request({ method: 'GET', path: '/' }));
    const refused = await callOnce(httpFirst.books);
    assert.equal(refused.err?.code, grpc.status.UNAVAILABLE);
    assert.match(refused.err!.details, /CIRCUIT_OPEN/);
    assert.equal(server.arrivals, 0);
  } finally {
    httpFirst.books.close();
    await httpFirst.mesh.close();
  }
});

test('circuitBreaker: false leaves the step out: every call is sent', async () => {
  const { mesh, books } = meshWith({ retries: false, circuitBreaker: false });
  server.otherwise = grpc.status.UNAVAILABLE;
  server.arrivals = 0;
  try {
    for (let i = 0; i < 5; i++) assert.equal((await callOnce(books)).err?.code, grpc.status.UNAVAILABLE);
    assert.equal(server.arrivals, 5, 'no breaker: every call is sent');
    assert.equal(mesh.client('books').circuitBreaker, undefined);
  } finally {
    books.close();
    await mesh.close();
  }
});

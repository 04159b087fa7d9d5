/**
 * grpcClient's limits against a real grpc-js server: over `maxConcurrency` or the rate limit a call
 * is refused at once with RESOURCE_EXHAUSTED (details naming CONCURRENCY_LIMITED / RATE_LIMITED),
 * never sent, never retried, and counted once: one response in the golden metrics, one event.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type MeshClientOptions } from '../../src/index.js';
import { booksMesh, callOnce, startScriptedServer, type ScriptedServer } from '../helpers/scripted-grpc-server.js';

let server: ScriptedServer;
before(async () => {
  server = await startScriptedServer('books');
});
after(() => server.close());

const meshWith = (options: Partial<MeshClientOptions>) => booksMesh({ endpoints: [server.address], ...options });

test('over maxConcurrency a call is refused at once with RESOURCE_EXHAUSTED naming CONCURRENCY_LIMITED, counted once; an ended call frees its slot', async () => {
  const { mesh, books, metric } = meshWith({ limits: { maxConcurrency: 2 } });
  server.script = ['hang', 'hang'];
  server.arrivals = 0;
  try {
    const hanging: grpc.ClientUnaryCall[] = [];
    for (let i = 0; i < 2; i++) {
      const arrived = new Promise<void>((resolve) => (server.onArrival = resolve));
      hanging.push(books.echo(Buffer.from('x'), new grpc.Metadata(), {}, () => {}));
      await arrived;
    }
    const refused = await callOnce(books);
    assert.equal(refused.err?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(refused.err!.details, /^CONCURRENCY_LIMITED: service "books": 2 calls already in flight \(limits\.maxConcurrency\); refused without sending/);
    assert.equal(server.arrivals, 2);
    assert.equal(await metric('meshwork_concurrency_limited_total'), 1);
    assert.equal(await metric('request_total'), 3);
    assert.equal(await metric('response_total', { grpc_status: String(grpc.status.RESOURCE_EXHAUSTED) }), 1, 'the refusal is one response');
    hanging[0]!.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await callOnce(books)).res, 'books', 'the cancelled call gave its slot back');
    hanging[1]!.cancel();
  } finally {
    server.onArrival = undefined;
    books.close();
    await mesh.close();
  }
});

test('over the rate limit a call is refused at once with RESOURCE_EXHAUSTED naming RATE_LIMITED; tokens come back with time', async () => {
  const { mesh, clock, books, metric } = meshWith({ limits: { rateLimit: { requestsPerSecond: 2, burst: 2 } } });
  server.script = [];
  server.arrivals = 0;
  try {
    assert.equal((await callOnce(books)).res, 'books');
    assert.equal((await callOnce(books)).res, 'books');
    const refused = await callOnce(books);
    assert.equal(refused.err?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(refused.err!.details, /^RATE_LIMITED: service "books": over 2 calls\/s \(burst 2\); refused without sending/);
    assert.equal(server.arrivals, 2);
    clock.advance(499);
    assert.match((await callOnce(books)).err!.details, /RATE_LIMITED/);
    clock.advance(1);
    assert.equal((await callOnce(books)).res, 'books', 'half a second later: one token');
    assert.equal(await metric('meshwork_rate_limited_total'), 2);
    assert.equal(await metric('meshwork_retries_total'), 0, 'a refusal is not retried');
    assert.equal(await metric('response_total', { grpc_status: String(grpc.status.RESOURCE_EXHAUSTED) }), 2);
  } finally {
    books.close();
    await mesh.close();
  }
});

/**
 * grpcClient's limits against a real grpc-js server: over `maxConcurrency` or the rate limit a call
 * is refused at once with RESOURCE_EXHAUSTED (details naming CONCURRENCY_LIMITED / RATE_LIMITED),
 * never sent, never retried, and counted once: one response in the golden metrics, one event.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, ManualClock, type Mesh, type MeshClientOptions } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { callOnce, ScriptedClient, startScriptedServer, type ScriptedServer, type ScriptedStub } from '../helpers/scripted-grpc-server.js';
import { metricValue } from '../helpers/sidecar-process.js';

let server: ScriptedServer;
before(async () => {
  server = await startScriptedServer('books');
});
after(() => server.close());

function meshWith(options: Partial<MeshClientOptions>): { mesh: Mesh; clock: ManualClock; books: ScriptedStub } {
  const clock = new ManualClock();
  const mesh = createMesh({ services: { books: { endpoints: [server.address], ...options } }, clock });
  return { mesh, clock, books: grpcClient(mesh, ScriptedClient, 'books') as unknown as ScriptedStub };
}

const metric = async (mesh: Mesh, name: string, labels: Record<string, string> = {}) => metricValue(await mesh.registry.metrics(), name, { authority: 'books', ...labels });

test('over maxConcurrency a call is refused at once with RESOURCE_EXHAUSTED naming CONCURRENCY_LIMITED, counted once; an ended call frees its slot', async () => {
  const { mesh, books } = meshWith({ limits: { maxConcurrency: 2 } });
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
    assert.equal(await metric(mesh, 'meshwork_concurrency_limited_total'), 1);
    assert.equal(await metric(mesh, 'request_total'), 3);
    assert.equal(await metric(mesh, 'response_total', { grpc_status: String(grpc.status.RESOURCE_EXHAUSTED) }), 1, 'the refusal is one response');
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
  const { mesh, clock, books } = meshWith({ limits: { rateLimit: { requestsPerSecond: 2, burst: 2 } } });
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
    assert.equal(await metric(mesh, 'meshwork_rate_limited_total'), 2);
    assert.equal(await metric(mesh, 'meshwork_retries_total'), 0, 'a refusal is not retried');
    assert.equal(await metric(mesh, 'response_total', { grpc_status: String(grpc.status.RESOURCE_EXHAUSTED) }), 2);
  } finally {
    books.close();
    await mesh.close();
  }
});

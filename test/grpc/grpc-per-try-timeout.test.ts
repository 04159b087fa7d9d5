/**
 * grpcClient's per-try timeout against a real grpc-js server that hangs on purpose: an attempt is
 * cancelled after `perTryTimeout` (the server sees the cancel), counted, and retried only when
 * `grpcStatusCodes` includes DEADLINE_EXCEEDED; a call deadline shorter than the per-try timeout is
 * the attempt's bound. The mesh runs on a ManualClock, so the test decides when a per-try timeout is over.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ManualClock, type MeshClientOptions } from '../../src/index.js';
import { booksMesh, callOnce, startScriptedServer, type ScriptedServer } from '../helpers/scripted-grpc-server.js';

let server: ScriptedServer;
before(async () => {
  server = await startScriptedServer('books');
});
after(() => server.close());

const meshWith = (options: Partial<MeshClientOptions>) => booksMesh({ endpoints: [server.address], outlierDetection: false, perTryTimeout: '100ms', ...options });

test('an attempt that outlasts perTryTimeout is cancelled and, with DEADLINE_EXCEEDED in grpcStatusCodes, retried', async () => {
  const { mesh, clock, books, metric } = meshWith({ retries: { grpcStatusCodes: [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED], backoff: { base: 1, max: 1 } } });
  server.script = ['hang', 'ok'];
  server.arrivals = server.cancelled = 0;
  try {
    const arrived = new Promise<void>((resolve) => (server.onArrival = resolve));
    const outcome = callOnce(books);
    await arrived;
    clock.advance(99);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(server.arrivals, 1, 'not before the per-try timeout');
    const retried = new Promise<void>((resolve) => (server.onArrival = resolve));
    clock.advance(1);
    // The backoff (at most 1 ms) runs on the same clock.
    while (server.arrivals < 2) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      clock.advance(1);
    }
    await retried;
    assert.equal((await outcome).res, 'books');
    await until(() => server.cancelled === 1, 'the server to see the first attempt cancelled');
    assert.equal(await metric('meshwork_per_try_timeouts_total'), 1);
    assert.equal(await metric('meshwork_retries_total'), 1);
  } finally {
    server.onArrival = undefined;
    books.close();
    await mesh.close();
  }
});

test('by default (grpcStatusCodes [UNAVAILABLE]) a timed-out attempt is not retried: the caller gets DEADLINE_EXCEEDED naming PER_TRY_TIMEOUT', async () => {
  const { mesh, clock, books, metric } = meshWith({});
  server.script = ['hang'];
  server.arrivals = server.cancelled = 0;
  try {
    const outcome = await callOnce(books, { clock, stepMs: 10 });
    assert.equal(outcome.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(outcome.err!.details, /^PER_TRY_TIMEOUT: the attempt took longer than the per-try timeout \(100 ms\)/);
    assert.equal(server.arrivals, 1);
    assert.equal(await metric('meshwork_per_try_timeouts_total'), 1);
    assert.equal(await metric('meshwork_retries_total'), 0);
  } finally {
    books.close();
    await mesh.close();
  }
});

test('a call deadline shorter than perTryTimeout bounds the attempt: no per-try timeout is armed, the call ends at its deadline', async () => {
  // The manual clock's wall time runs 1.95 s ahead of the real one: a deadline 50 ms away for the
  // mesh (less than the per-try timeout) is 2 s away for grpc-js's own deadline timer.
  const clock = new ManualClock(0, Date.now() + 1_950);
  const { mesh, books, metric } = booksMesh({ endpoints: [server.address], outlierDetection: false, perTryTimeout: '100ms' }, clock);
  server.arrivals = 0;
  try {
    assert.equal((await callOnce(books)).res, 'books', 'connected first');
    server.script = ['hang'];
    const arrived = new Promise<void>((resolve) => (server.onArrival = resolve));
    const outcome = callOnce(books, { call: { deadline: clock.wallNow() + 50 } });
    await arrived;
    clock.advance(1_000);
    const { err } = await outcome;
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.doesNotMatch(err!.details, /PER_TRY_TIMEOUT/, 'ended by the call deadline, not by a per-try timer');
    assert.equal(server.arrivals, 2);
    assert.equal(await metric('meshwork_per_try_timeouts_total'), 0);
  } finally {
    server.onArrival = undefined;
    books.close();
    await mesh.close();
  }
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `waited 5 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

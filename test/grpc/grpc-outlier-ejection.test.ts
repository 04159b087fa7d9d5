/**
 * Outlier ejection in meshwork's grpc-js balancers, over real grpc-js servers: an endpoint that fails
 * `consecutiveFailures` calls in a row (server-side statuses) is left out of the picks for the
 * ejection time, readmitted on probation after it, counted in endpoints_ejected_total; when every
 * endpoint is ejected the calls still go out (fail open). The mesh's ManualClock times the ejections.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type MeshClientOptions } from '../../src/index.js';
import { booksMesh, callOnce, startScriptedServer, type BooksMesh, type ScriptedServer, type ScriptedStub } from '../helpers/scripted-grpc-server.js';

let good: ScriptedServer;
let bad: ScriptedServer;
before(async () => {
  good = await startScriptedServer('good');
  bad = await startScriptedServer('bad', grpc.status.UNAVAILABLE);
});
after(() => {
  good.close();
  bad.close();
});

// Least-request with calls one at a time: every pick is a coin toss between the two, whatever their latency.
const meshWith = (options: Partial<MeshClientOptions>) =>
  booksMesh({ endpoints: [good.address, bad.address], balancer: 'p2c-least-request', retries: false, circuitBreaker: false, ...options });
const ejections = async ({ metric }: BooksMesh) => metric('meshwork_endpoints_ejected_total');

async function calls(books: ScriptedStub, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { res, err } = await callOnce(books);
    const who = res ?? (err?.details.startsWith('bad:') ? 'bad' : `other: ${err?.details}`);
    seen[who] = (seen[who] ?? 0) + 1;
  }
  return seen;
}

test('consecutive failures eject an endpoint for the ejection time; after it, one failed probe ejects it again', async () => {
  const env = meshWith({ outlierDetection: { consecutiveFailures: 2, baseEjectionTime: '10s' } });
  const { mesh, clock, books } = env;
  good.arrivals = bad.arrivals = 0;
  try {
    // Both endpoints connected first, so that every pick has the two to choose from.
    while (good.arrivals === 0 || bad.arrivals === 0) await callOnce(books);
    while (bad.arrivals < 2) await callOnce(books);
    assert.equal(await ejections(env), 1);
    assert.deepEqual(await calls(books, 30), { good: 30 }, 'the ejected endpoint gets nothing');
    assert.equal(bad.arrivals, 2);

    clock.advance(10_000);
    const seen = await calls(books, 40);
    assert.equal(seen.bad, 1, 'readmitted on probation: its one failure ejects it again at once');
    assert.equal(bad.arrivals, 3);
    assert.equal(await ejections(env), 2);
    clock.advance(10_000);
    assert.deepEqual(await calls(books, 20), { good: 20 }, 'the second ejection lasts twice as long');
  } finally {
    books.close();
    await mesh.close();
  }
});

test('a status that describes the request (NOT_FOUND) does not eject; outlierDetection: false never ejects', async () => {
  const env = meshWith({ outlierDetection: false });
  const { mesh, books } = env;
  good.arrivals = bad.arrivals = 0;
  try {
    assert.ok(((await calls(books, 40)).bad ?? 0) > 0);
    assert.ok(((await calls(books, 40)).bad ?? 0) > 0, 'still picked after many failures');
    assert.equal(await ejections(env), 0);
  } finally {
    books.close();
    await mesh.close();
  }
  bad.otherwise = grpc.status.NOT_FOUND;
  const second = meshWith({ outlierDetection: { consecutiveFailures: 1 } });
  try {
    assert.ok(((await calls(second.books, 40)).bad ?? 0) > 1, 'NOT_FOUND is an answer, not a failure');
    assert.equal(await ejections(second), 0);
  } finally {
    bad.otherwise = grpc.status.UNAVAILABLE;
    second.books.close();
    await second.mesh.close();
  }
});

test('when every endpoint is ejected the balancer fails open: calls still reach the servers', async () => {
  const env = meshWith({ outlierDetection: { consecutiveFailures: 1, maxEjectedPercent: 100 } });
  const { mesh, books } = env;
  good.otherwise = grpc.status.INTERNAL;
  good.arrivals = bad.arrivals = 0;
  try {
    while (good.arrivals === 0 || bad.arrivals === 0) await callOnce(books);
    assert.equal(await ejections(env), 2);
    const before = good.arrivals + bad.arrivals;
    for (let i = 0; i < 10; i++) {
      const { err } = await callOnce(books);
      assert.match(err!.details, /^(good|bad): scripted/, 'an answer from a server, not a refusal');
    }
    assert.equal(good.arrivals + bad.arrivals, before + 10);
  } finally {
    good.otherwise = 'ok';
    books.close();
    await mesh.close();
  }
});

/**
 * A traffic split for grpcClient, over real grpc-js servers: each call goes to a destination chosen
 * by weight, independently, and to that destination's own endpoints; a weight of 0 gets nothing; a
 * destination none of whose endpoints can be reached fails the calls sent its way with UNAVAILABLE
 * while the other destinations keep answering.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, type Mesh } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { callOnce, ScriptedClient, startScriptedServer, type ScriptedServer, type ScriptedStub } from '../helpers/scripted-grpc-server.js';

let stable: ScriptedServer;
let canary: ScriptedServer;
let canary2: ScriptedServer;
before(async () => {
  stable = await startScriptedServer('stable');
  canary = await startScriptedServer('canary');
  canary2 = await startScriptedServer('canary-2');
});
after(() => {
  for (const server of [stable, canary, canary2]) server.close();
});

function meshWith(split: { service: string; weight: number }[], canaryEndpoints: string[] = [canary.address, canary2.address]): { mesh: Mesh; books: ScriptedStub } {
  const policy = { retries: false as const, circuitBreaker: false as const };
  const mesh = createMesh({
    services: {
      books: { endpoints: [stable.address], split, ...policy },
      'books-stable': { endpoints: [stable.address], ...policy },
      'books-canary': { endpoints: canaryEndpoints, ...policy },
    },
  });
  return { mesh, books: grpcClient(mesh, ScriptedClient, 'books') as unknown as ScriptedStub };
}

/** `n` calls, 10 at a time; how many each server (or error) answered. */
async function share(books: ScriptedStub, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let sent = 0; sent < n; sent += 10) {
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => callOnce(books)));
    for (const { res, err } of outcomes) {
      const who = res ?? `${grpc.status[err!.code]}: ${err!.details}`;
      seen[who] = (seen[who] ?? 0) + 1;
    }
  }
  return seen;
}

test('each call goes to a destination by weight (80/20 over 400 calls), to that destination\'s own endpoints', async () => {
  const { mesh, books } = meshWith([
    { service: 'books-stable', weight: 80 },
    { service: 'books-canary', weight: 20 },
  ]);
  try {
    await callOnce(books);
    const seen = await share(books, 400);
    const canaryCalls = (seen.canary ?? 0) + (seen['canary-2'] ?? 0);
    assert.equal((seen.stable ?? 0) + canaryCalls, 400, `every call answered: ${JSON.stringify(seen)}`);
    // 80 expected, standard deviation 8: these bounds are more than 3.5 deviations wide.
    assert.ok(canaryCalls >= 50 && canaryCalls <= 115, `canary share ${canaryCalls}/400`);
    assert.ok((seen.canary ?? 0) > 0 && (seen['canary-2'] ?? 0) > 0, 'the canary\'s calls are balanced over its two endpoints');
  } finally {
    books.close();
    await mesh.close();
  }
});

test('a weight of 0 gets no calls (a blue/green switch staged)', async () => {
  const { mesh, books } = meshWith([
    { service: 'books-stable', weight: 0 },
    { service: 'books-canary', weight: 1 },
  ]);
  try {
    const seen = await share(books, 100);
    assert.equal(seen.stable, undefined, JSON.stringify(seen));
    assert.equal((seen.canary ?? 0) + (seen['canary-2'] ?? 0), 100);
  } finally {
    books.close();
    await mesh.close();
  }
});

test('a destination that cannot be reached fails only the calls sent its way, with UNAVAILABLE naming it', async () => {
  const closed = await startScriptedServer('gone');
  closed.close();
  const { mesh, books } = meshWith(
    [
      { service: 'books-stable', weight: 1 },
      { service: 'books-canary', weight: 1 },
    ],
    [closed.address],
  );
  try {
    const seen = await share(books, 100);
    const failed = Object.entries(seen).filter(([who]) => who.startsWith('UNAVAILABLE'));
    assert.ok((seen.stable ?? 0) >= 25, JSON.stringify(seen));
    assert.ok(failed.length > 0 && failed.every(([who]) => /split destination "books-canary" has no reachable endpoint/.test(who)), JSON.stringify(seen));
  } finally {
    books.close();
    await mesh.close();
  }
});

/**
 * `connection.maxPendingRequests` and `connection.maxRequestsPerConnection` (Istio's
 * http1MaxPendingRequests and maxRequestsPerConnection) against a real server that holds its
 * answers until the test releases them.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { meshClient } from '../../src/index.js';
import { isMeshError } from '../../src/core/errors.js';
import { EventQueue } from '../helpers/event-queue.js';

async function holdingServer() {
  const held: ServerResponse[] = [];
  const arrived = new EventQueue<number>();
  const sockets = new Set<number>();
  const server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
    sockets.add(req.socket.remotePort!);
    if (req.url === '/hold') {
      held.push(res);
      arrived.push(held.length);
    } else res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    arrived,
    sockets,
    release: () => held.splice(0).forEach((res) => res.end('released')),
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

const plain = { retries: false, circuitBreaker: false, outlierDetection: false } as const;

test('beyond maxPendingRequests waiting for a connection, a request is refused at once with CONCURRENCY_LIMITED, and the endpoint is not blamed', async () => {
  const server = await holdingServer();
  // One failure would eject the endpoint, if a refusal counted as one.
  const client = meshClient('held', { endpoints: [server.address], connection: { connections: 1, maxPendingRequests: 1 }, ...plain, outlierDetection: { consecutiveFailures: 1 } });
  try {
    const first = client.request({ path: '/hold' });
    await server.arrived.until((n) => n === 1, 'the first request at the server');
    // The one connection is busy: this one waits in the pool, which its limit allows.
    const second = client.request({ path: '/hold' });
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(client.request({ path: '/hold' }), (err: unknown) => {
      assert.ok(isMeshError(err, 'CONCURRENCY_LIMITED'), String(err));
      assert.match((err as Error).message, /1 request\(s\) already wait for a connection to 127\.0\.0\.1:\d+ \(connection\.maxPendingRequests\); refused rather than queued/);
      return true;
    });
    server.release();
    const firstRes = await first;
    assert.equal(await firstRes.body.text(), 'released');
    await server.arrived.until((n) => n === 1, 'the second request at the server');
    server.release();
    assert.equal(await (await second).body.text(), 'released');
    assert.deepEqual(client.endpoints().map((e) => e.ejected), [false]);
  } finally {
    await client.close();
    await server.close();
  }
});

for (const perConnection of [1, 2, 3]) {
  test(`maxRequestsPerConnection ${perConnection}: a connection is replaced after carrying that many requests`, async () => {
    const server = await holdingServer();
    const client = meshClient('short-lived', { endpoints: [server.address], connection: { connections: 1, maxRequestsPerConnection: perConnection }, ...plain });
    try {
      for (let i = 0; i < 6; i++) assert.equal(await (await client.request({ path: '/' })).body.text(), 'ok');
      assert.equal(server.sockets.size, 6 / perConnection);
    } finally {
      await client.close();
      await server.close();
    }
  });
}

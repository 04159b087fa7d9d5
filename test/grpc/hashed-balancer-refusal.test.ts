/**
 * The random and consistent-hash balancers pick per HTTP request; a grpc-js channel balances with
 * its own policies, so a gRPC client of a service configured with one is refused, by name, rather
 * than balanced some other way without a word.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';

const GreeterClient = grpc.makeGenericClientConstructor({}, 'Greeter');

test('a gRPC client of a service balanced by random, ring-hash or maglev is refused with the reason', async () => {
  const mesh = createMesh({
    services: {
      sessions: { endpoints: ['127.0.0.1:1'], balancer: 'ring-hash', consistentHash: { header: 'x-user' } },
      tables: { endpoints: ['127.0.0.1:1'], balancer: 'maglev', consistentHash: { cookie: 'session' } },
      anywhere: { endpoints: ['127.0.0.1:1'], balancer: 'random' },
      greeter: { endpoints: ['127.0.0.1:1'], balancer: 'round-robin' },
    },
  });
  try {
    for (const [service, balancer] of [['sessions', 'ring-hash'], ['tables', 'maglev'], ['anywhere', 'random']]) {
      assert.throws(() => grpcClient(mesh, GreeterClient, service!), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_OPTIONS');
        assert.equal(err.message, `grpcClient("${service}"): balancer ${balancer} is not available to gRPC channels; use p2c-ewma, p2c-least-request or round-robin for a service called over gRPC`);
        return true;
      });
    }
    grpcClient(mesh, GreeterClient, 'greeter').close();
  } finally {
    await mesh.close();
  }
});

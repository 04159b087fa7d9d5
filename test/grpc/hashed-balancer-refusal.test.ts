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

test('a gRPC client of a split service is refused when its channel could not honour the split: round-robin, or a destination subset', async () => {
  const mesh = createMesh({
    services: {
      plain: { endpoints: ['127.0.0.1:1'], balancer: 'round-robin', split: [{ service: 'v1', weight: 9 }, { service: 'v2', weight: 1 }] },
      labelled: {
        endpoints: [{ host: '127.0.0.1', port: 1, labels: { version: 'v2' } }],
        subsets: { v2: { labels: { version: 'v2' } } },
        split: [{ service: 'labelled', subset: 'v2', weight: 1 }],
      },
      weighted: { endpoints: ['127.0.0.1:1'], split: [{ service: 'v1', weight: 9 }, { service: 'v2', weight: 1 }] },
      v1: { endpoints: ['127.0.0.1:2'] },
      v2: { endpoints: ['127.0.0.1:3'] },
    },
  });
  try {
    assert.throws(() => grpcClient(mesh, GreeterClient, 'plain'), /grpcClient\("plain"\): a traffic split is picked by the p2c-ewma and p2c-least-request balancers, not round-robin/);
    assert.throws(() => grpcClient(mesh, GreeterClient, 'labelled'), /grpcClient\("labelled"\): split destination "labelled" names subset "v2", which gRPC channels do not select/);
    grpcClient(mesh, GreeterClient, 'weighted').close();
  } finally {
    await mesh.close();
  }
});

/**
 * The egress policy's clients: one per allowed host and port, made on first use, and at most a
 * bounded number at once (a wildcard lets the caller pick any number of names): the least recently
 * used is closed and made again when called later.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EgressDenials, EgressPolicy } from '../../src/client/egress-policy.js';
import { buildClient, type MeshClient } from '../../src/client/mesh-client.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';

let backend: TestBackend;
before(async () => {
  backend = await startBackend('external');
});
after(() => backend.stop());

test('clients beyond the bound are closed least recently used first, and made again when called', async () => {
  const built: MeshClient[] = [];
  const policy = new EgressPolicy(
    [{ host: '*.example.test', options: { endpoints: [backend.address], retries: false } }],
    (name, settings) => {
      const client = buildClient(name, settings, { metrics: false }, {});
      built.push(client);
      return client;
    },
    new EgressDenials(undefined),
    2,
  );
  const clientOf = (host: string) => {
    const decision = policy.decide(host, 80);
    assert.ok('client' in decision, host);
    return decision.client;
  };
  const a = clientOf('a.example.test');
  clientOf('b.example.test');
  assert.equal(clientOf('a.example.test'), a, 'a known host keeps its client');
  clientOf('c.example.test');
  assert.deepEqual(policy.clients(), ['a.example.test:80', 'c.example.test:80']);
  // The evicted client was closed; calling its host again makes a new one, which works.
  await assert.rejects(built[1]!.request({ method: 'GET', path: '/' }), /closed/);
  const again = clientOf('b.example.test');
  assert.notEqual(again, built[1]);
  const res = await again.request({ method: 'GET', path: '/again' });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  assert.ok('denied' in policy.decide('example.test', 80), 'the bare suffix is not a subdomain');
  await policy.close();
});

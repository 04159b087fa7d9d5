/**
 * Endpoint weights from discovery reach grpcClient's balancers: over real grpc-js servers answering
 * equally fast, an endpoint of weight 4 beside one of weight 1 takes about four fifths of the calls,
 * as the HTTP balancer's P2C gives it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMesh } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { callOnce, ScriptedClient, startScriptedServer, type ScriptedServer, type ScriptedStub } from '../helpers/scripted-grpc-server.js';

let heavy: ScriptedServer;
let light: ScriptedServer;
before(async () => {
  heavy = await startScriptedServer('heavy');
  light = await startScriptedServer('light');
});
after(() => {
  heavy.close();
  light.close();
});

test('an endpoint of weight 4 beside one of weight 1 takes about four fifths of the calls', async () => {
  const [heavyPort, lightPort] = [heavy, light].map((s) => Number(s.address.split(':').pop()));
  const mesh = createMesh({
    services: {
      // Least-request with one call at a time: both endpoints always cost the same, so the draw's weights alone decide.
      books: {
        balancer: 'p2c-least-request',
        endpoints: [
          { host: '127.0.0.1', port: heavyPort!, weight: 4 },
          { host: '127.0.0.1', port: lightPort!, weight: 1 },
        ],
        retries: false,
      },
    },
  });
  const books = grpcClient(mesh, ScriptedClient, 'books') as unknown as ScriptedStub;
  try {
    await callOnce(books);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const { res } = await callOnce(books);
      seen[res ?? 'error'] = (seen[res ?? 'error'] ?? 0) + 1;
    }
    // 320 expected, standard deviation 8; equal weights would give 200.
    assert.ok((seen.heavy ?? 0) >= 285 && (seen.heavy ?? 0) <= 355, `heavy took ${seen.heavy} of 400: ${JSON.stringify(seen)}`);
    assert.equal((seen.heavy ?? 0) + (seen.light ?? 0), 400, JSON.stringify(seen));
  } finally {
    books.close();
    await mesh.close();
  }
});

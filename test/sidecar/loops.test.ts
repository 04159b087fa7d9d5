/**
 * A sidecar never proxies to itself: a Host or proxy URI naming any of its own listeners (outbound,
 * inbound, admin) is refused, as is an app address that is one of them. A loop through other
 * sidecars (A's service is B's outbound port and B's is A's) is cut by x-meshwork-hops.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { openRaw } from '../helpers/raw-socket.js';
import { freePort } from '../helpers/free-port.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { startSidecarProcess } from '../helpers/sidecar-process.js';

let app: TestBackend;
let words: TestBackend;

before(async () => {
  app = await startBackend('app');
  words = await startBackend('words');
});

after(async () => {
  await app.stop();
  await words.stop();
});

const meshOf = (services: Record<string, string>) =>
  `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n${Object.entries(services)
    .map(([name, endpoint]) => `    ${name}: { endpoints: ["${endpoint}"], retries: false }\n`)
    .join('')}`;

test('a Host or proxy URI naming one of the sidecar\'s own listeners gets 508 and goes nowhere', async () => {
  const sidecar = await startSidecarProcess(meshOf({ words: words.address }), ['--inbound', '127.0.0.1:0', '--app', app.address]);
  try {
    const appHits = app.hits;
    for (const own of [sidecar.outbound, sidecar.inbound!, sidecar.admin, sidecar.outbound.replace('127.0.0.1', 'localhost')]) {
      const byHost = await request(`http://${sidecar.outbound}/metrics`, { headers: { host: own } });
      assert.equal(byHost.statusCode, 508, own);
      assert.equal(byHost.headers['x-meshwork-error'], 'LOOP_DETECTED');
      assert.match(await byHost.body.text(), /own listener/);
      // Proxy form: the absolute URI names the target.
      const proxyForm = await openRaw(sidecar.outbound);
      proxyForm.socket.end(`GET http://${own}/metrics HTTP/1.1\r\nHost: ${own}\r\nConnection: close\r\n\r\n`);
      assert.match(await proxyForm.closed, /^HTTP\/1\.1 508 /, own);
    }
    assert.equal(app.hits, appHits, 'a request for the inbound port reached the app');
    // A service is still reached, and carries its hop count.
    const ok = await request(`http://${sidecar.outbound}/x`, { headers: { host: 'words' } });
    const seen = (await ok.body.json()) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-meshwork-hops'], '1');
  } finally {
    await sidecar.stop();
  }
});

test('an app address that is the sidecar\'s own inbound listener is refused at start, naming both', async () => {
  const port = await freePort();
  await assert.rejects(startSidecarProcess(meshOf({ words: words.address }), ['--inbound', `127.0.0.1:${port}`, '--app', `127.0.0.1:${port}`]), (err: Error) => {
    assert.match(err.message, new RegExp(`the app address 127\\.0\\.0\\.1:${port} is this sidecar's own listener`));
    return true;
  });
});

test('a loop between two sidecars is cut by the hop limit with 508, and a forged hop count is refused', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await startSidecarProcess(meshOf({ loop: `127.0.0.1:${portB}`, words: words.address }), ['--outbound', `127.0.0.1:${portA}`, '--max-hops', '5']);
  const b = await startSidecarProcess(meshOf({ loop: `127.0.0.1:${portA}` }), ['--outbound', `127.0.0.1:${portB}`, '--max-hops', '5']);
  try {
    const looped = await request(`http://${a.outbound}/ping`, { headers: { host: 'loop' }, headersTimeout: 10_000 });
    assert.equal(looped.statusCode, 508);
    assert.equal(looped.headers['x-meshwork-error'], 'LOOP_DETECTED');
    assert.match(await looped.body.text(), /already passed 5 sidecars/);

    const atLimit = await request(`http://${a.outbound}/x`, { headers: { host: 'words', 'x-meshwork-hops': '4' } });
    assert.equal(((await atLimit.body.json()) as { headers: Record<string, string> }).headers['x-meshwork-hops'], '5');
    for (const forged of [['x-meshwork-hops', '-1'], ['x-meshwork-hops', 'many'], ['x-meshwork-hops', '1', 'X-Meshwork-Hops', '2']]) {
      const hits = words.hits;
      const res = await request(`http://${a.outbound}/x`, { headers: ['host', 'words', ...forged] });
      assert.equal(res.statusCode, 400, forged.join(' '));
      assert.match(await res.body.text(), /x-meshwork-hops must be one whole number/);
      assert.equal(words.hits, hits);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});

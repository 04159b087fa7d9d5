import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock, isMeshError, meshClient, seededRandom, type BalancerKind, type MeshClient } from '../../src/index.js';
import { startBackends, type TestBackend } from '../helpers/http-backend.js';

let backends: TestBackend[];
before(async () => {
  backends = await startBackends(3);
});
after(async () => {
  await Promise.all((backends ?? []).map((b) => b.stop()));
});

function reset(): void {
  for (const b of backends) {
    b.hits = 0;
    b.behaviour = {};
  }
}

async function send(client: MeshClient, count: number, concurrency: number): Promise<{ ok: number; failed: unknown[] }> {
  let next = 0;
  let ok = 0;
  const failed: unknown[] = [];
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        const res = await client.request({ path: '/' });
        await res.body.dump();
        ok++;
      } catch (err) {
        failed.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failed };
}

test('round robin spreads requests exactly evenly', async () => {
  reset();
  const client = meshClient('rr', { endpoints: backends.map((b) => b.address), balancer: 'round-robin' });
  try {
    await send(client, 30, 1);
    assert.deepEqual(backends.map((b) => b.hits), [10, 10, 10]);
  } finally {
    await client.close();
  }
});

for (const balancer of ['p2c-least-request', 'p2c-ewma'] as BalancerKind[]) {
  test(`${balancer} uses every backend`, async () => {
    reset();
    const client = meshClient('spread', { endpoints: backends.map((b) => b.address), balancer, random: seededRandom(5) });
    try {
      await send(client, 150, 6);
      for (const b of backends) assert.ok(b.hits >= 15, `${b.name} got ${b.hits} of 150`);
    } finally {
      await client.close();
    }
  });
}

test('p2c-ewma sends a slow backend a much smaller share than round robin does', async () => {
  const slowShare = async (balancer: BalancerKind) => {
    reset();
    backends[2]!.behaviour = { delayMs: 40 };
    const client = meshClient('slow', { endpoints: backends.map((b) => b.address), balancer, random: seededRandom(9) });
    try {
      await send(client, 240, 8);
      return backends[2]!.hits / 240;
    } finally {
      await client.close();
    }
  };
  const rr = await slowShare('round-robin');
  const ewma = await slowShare('p2c-ewma');
  assert.ok(Math.abs(rr - 1 / 3) < 0.01, `round robin share ${rr}`);
  assert.ok(ewma < rr / 2, `p2c-ewma share ${ewma.toFixed(3)} vs round robin ${rr.toFixed(3)}`);
});

test('a killed backend is ejected, then readmitted when it is back and its ejection time is over', async () => {
  reset();
  const clock = new ManualClock();
  const client = meshClient('ejection', {
    endpoints: backends.map((b) => b.address),
    balancer: 'round-robin',
    outlierDetection: { consecutiveFailures: 2, baseEjectionTime: 30_000 },
    // Off so every failure reaches the test; with retries on, a refused connection is retried elsewhere.
    retries: false,
    clock,
  });
  const killed = backends[1]!;
  try {
    await killed.stop();
    const first = await send(client, 12, 1);
    assert.ok(first.failed.length >= 2 && first.failed.length <= 3, `failures before ejection: ${first.failed.length}`);
    assert.ok(first.failed.every((e) => isMeshError(e, 'CONNECT_FAILED')));
    assert.deepEqual(
      client.endpoints().map((e) => [e.endpoint, e.ejected]),
      backends.map((b) => [b.address, b === killed]),
    );
    const during = await send(client, 20, 2);
    assert.deepEqual([during.ok, during.failed.length], [20, 0], 'all traffic goes to the healthy backends');

    await killed.restart();
    killed.hits = 0;
    clock.advance(30_000);
    await send(client, 9, 1);
    assert.equal(killed.hits, 3, 'back in round-robin rotation');
    assert.equal(client.endpoints().find((e) => e.endpoint === killed.address)!.ejected, false);
  } finally {
    await client.close();
  }
});

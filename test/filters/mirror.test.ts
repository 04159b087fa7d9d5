/**
 * Mirroring through a real mesh: a service and its mirror are real HTTP servers; what the mirror
 * receives is read from its server, what the mesh did from its stack events.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { fetch } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { Params } from '../../src/core/params.js';
import { MirrorTargetParam, mirrorModule, shadowHost } from '../../src/filters/mirror.js';
import { MirrorParam, RoutesParam } from '../../src/policy/policy-params.js';
import { syntheticResponse } from '../../src/policy/synthetic-response.js';
import type { CallContext } from '../../src/core/service.js';
import type { HttpService } from '../../src/http/http-stack.js';
import { EventQueue } from '../helpers/event-queue.js';
import { startHoldingBackend, type HoldingBackend } from '../helpers/holding-backend.js';
import { harness } from './stack-harness.js';

let primary: HoldingBackend;
let shadow: HoldingBackend;
before(async () => {
  primary = await startHoldingBackend('primary');
  shadow = await startHoldingBackend('shadow');
});
after(async () => {
  await Promise.all([primary?.stop(), shadow?.stop()]);
});

/** A mesh whose `reviews` service mirrors to `reviews-next`, and the stack events it counts. */
async function withMirror(options: Record<string, unknown>, run: (mesh: Mesh, events: EventQueue<string>) => Promise<void>): Promise<void> {
  primary.requests.drain();
  shadow.requests.drain();
  primary.decide = () => 200;
  shadow.decide = () => 200;
  const mesh = createMesh({
    services: {
      reviews: { endpoints: [primary.address], mirror: { service: 'reviews-next' }, ...options },
      'reviews-next': { endpoints: [shadow.address] },
    },
  });
  const events = new EventQueue<string>();
  mesh.metrics!.observer.listen({ completed: () => {}, stackEvent: (_authority, event) => events.push(event) });
  try {
    await run(mesh, events);
  } finally {
    await mesh.close();
  }
}

test('every request is copied to the mirror with -shadow appended to its Host, and the caller gets the service\'s answer', async () => {
  await withMirror({}, async (mesh) => {
    const res = await mesh.client('reviews').request({ method: 'POST', path: '/reviews/1?x=y', headers: { host: 'reviews:9080', 'x-user': 'jason' }, body: 'a body' });
    assert.equal(res.headers['x-backend'], 'primary');
    assert.equal(await res.body.text(), 'primary 200');
    const real = await primary.requests.next('request at the service');
    const copy = await shadow.requests.next('copy at the mirror');
    assert.equal(real.headers.host, 'reviews:9080');
    assert.equal(copy.headers.host, 'reviews-shadow:9080');
    assert.equal(copy.method, 'POST');
    assert.equal(copy.url, '/reviews/1?x=y');
    assert.equal(copy.headers['x-user'], 'jason');
    assert.equal(copy.body.toString(), 'a body');
  });
});

test('a request without a Host header is copied with the service name and -shadow (the fetch dispatcher)', async () => {
  await withMirror({}, async (mesh) => {
    const res = await fetch('http://reviews/a', { dispatcher: mesh.dispatcher });
    assert.equal(await res.text(), 'primary 200');
    assert.equal((await shadow.requests.next('copy')).headers.host, 'reviews-shadow');
  });
});

test("the mirror's answer never reaches the caller: a mirror that never answers, or fails, changes nothing", async () => {
  await withMirror({}, async (mesh, events) => {
    shadow.decide = () => 'hold';
    const held = await Promise.all([mesh.client('reviews').request({ path: '/1' }), shadow.requests.next('held copy')]);
    assert.equal(held[0].statusCode, 200, 'answered while the copy is still held');
    shadow.decide = () => 503;
    const res = await mesh.client('reviews').request({ path: '/2' });
    assert.equal(res.statusCode, 200);
    await events.until((e) => e === 'mirror_failures_total', 'the failed copy counted');
    await shadow.stop();
    try {
      assert.equal((await mesh.client('reviews').request({ path: '/3' })).statusCode, 200, 'a mirror that refuses connections');
      await events.until((e) => e === 'mirror_failures_total', 'the refused copy counted');
    } finally {
      shadow = await startHoldingBackend('shadow');
    }
    held[1].release();
  });
});

test('a copy has a deadline of its own: at it the copy is cancelled and counted as failed', async () => {
  await withMirror({ mirror: { service: 'reviews-next', timeout: '50ms' } }, async (mesh, events) => {
    shadow.decide = () => 'hold';
    assert.equal((await mesh.client('reviews').request({ path: '/' })).statusCode, 200);
    const copy = await shadow.requests.next('held copy');
    await copy.closed;
    await events.until((e) => e === 'mirror_failures_total');
  });
});

test('at most maxInFlight copies at once: the rest are dropped and counted, and copying resumes as they finish', async () => {
  await withMirror({ mirror: { service: 'reviews-next', maxInFlight: 2 } }, async (mesh, events) => {
    shadow.decide = () => 'hold';
    const client = mesh.client('reviews');
    for (let i = 0; i < 5; i++) assert.equal((await client.request({ path: `/${i}` })).statusCode, 200);
    const first = await shadow.requests.next();
    const second = await shadow.requests.next();
    assert.deepEqual([first.url, second.url], ['/0', '/1']);
    assert.equal(client.counters().mirror_dropped_total, 3);
    first.release();
    await events.until((e) => e === 'mirrors_total' || e === 'mirror_dropped_total');
    shadow.decide = () => 200;
    // The slot freed by the released copy is taken by the next request's copy.
    for (;;) {
      await client.request({ path: '/again' });
      if (client.counters().mirrors_total === 3) break;
    }
    assert.equal((await shadow.requests.next()).url, '/again');
    second.release();
  });
});

test('a streamed body is copied when its content-length fits the retry buffer; a longer or unsized stream is not, and the service still gets it whole', async () => {
  await withMirror({ retries: { maxBodyBytes: 16 } }, async (mesh, events) => {
    const client = mesh.client('reviews');
    const send = (body: string, headers: Record<string, string>) => client.request({ method: 'PUT', path: '/', headers, body: Readable.from([Buffer.from(body.slice(0, 3)), Buffer.from(body.slice(3))]) });

    await send('sixteen bytes!!!', { 'content-length': '16' });
    assert.equal((await primary.requests.next()).body.toString(), 'sixteen bytes!!!');
    assert.equal((await shadow.requests.next()).body.toString(), 'sixteen bytes!!!');

    await send('seventeen bytes!!', { 'content-length': '17' });
    assert.equal((await primary.requests.next()).body.toString(), 'seventeen bytes!!');
    await events.until((e) => e === 'mirror_skipped_body_total');

    await send('short', {});
    assert.equal((await primary.requests.next()).body.toString(), 'short');
    await events.until((e) => e === 'mirror_skipped_body_total');
    assert.equal(client.counters().mirrors_total, 1);
  });
});

test("a route's mirror replaces the service's, and `mirror: false` turns it off for that route", async () => {
  await withMirror(
    {
      routes: [
        { name: 'private', condition: { pathRegex: '/private/.*' }, mirror: false },
        { name: 'reads', condition: { method: 'GET' } },
      ],
    },
    async (mesh) => {
      const client = mesh.client('reviews');
      await client.request({ path: '/private/1' });
      await client.request({ path: '/public/1' });
      assert.equal((await shadow.requests.next()).url, '/public/1', 'the private request was not copied');
      assert.equal(client.counters().mirrors_total, 1);
    },
  );
});

test('a route can mirror when its service does not; the YAML-like options map onto the policy', async () => {
  primary.requests.drain();
  shadow.requests.drain();
  const mesh = createMesh({
    services: {
      reviews: { endpoints: [primary.address], routes: [{ name: 'ratings', condition: { pathRegex: '/ratings/.*' }, mirror: { service: 'reviews-next', percent: 100, timeout: '2s' } }] },
      'reviews-next': { endpoints: [shadow.address] },
    },
  });
  try {
    const client = mesh.client('reviews');
    assert.deepEqual(client.settings.policy.routes![0]!.mirror, { service: 'reviews-next', percent: 100, timeoutMs: 2_000 });
    await client.request({ path: '/other' });
    await client.request({ path: '/ratings/1' });
    assert.equal((await shadow.requests.next()).url, '/ratings/1');
  } finally {
    await mesh.close();
  }
});

test('percent copies that share of the requests', async () => {
  const copies: CallContext[] = [];
  const target: HttpService = { call: (_req, ctx) => (copies.push(ctx), Promise.resolve(syntheticResponse(200, {}, ''))), close: async () => {} };
  const h = harness([mirrorModule], [[MirrorParam, { service: 'next', percent: 20 }], [MirrorTargetParam, target]], 7);
  for (let i = 0; i < 2_000; i++) await h.call();
  assert.equal(h.seen.length, 2_000);
  assert.ok(Math.abs(copies.length / 2_000 - 0.2) < 4 * Math.sqrt((0.2 * 0.8) / 2_000), `${copies.length} copies of 2000`);
  assert.ok(copies.every((ctx) => ctx.destination === 'next'));
});

test('off, the module is not in the path at all', () => {
  const next: HttpService = { call: () => Promise.reject(new Error('unused')), close: async () => {} };
  assert.equal(mirrorModule.make(Params.empty, next), next);
  assert.equal(mirrorModule.make(Params.empty.with(RoutesParam, [{ name: 'r', condition: {}, mirror: false }]), next), next);
});

test("Envoy's Host rule: -shadow goes before the port", () => {
  assert.equal(shadowHost('reviews'), 'reviews-shadow');
  assert.equal(shadowHost('reviews.default.svc:9080'), 'reviews.default.svc-shadow:9080');
  assert.equal(shadowHost('[::1]:8080'), '[::1]-shadow:8080');
  assert.equal(shadowHost('[::1]'), '[::1]-shadow');
});

test('a bad mirror policy built in code is refused with the field and value', () => {
  const target: HttpService = { call: () => Promise.reject(new Error('unused')), close: async () => {} };
  assert.throws(() => harness([mirrorModule], [[MirrorParam, { service: 'next', percent: 120 }], [MirrorTargetParam, target]]), /mirror\.percent must be from 0 to 100, got 120/);
  assert.throws(() => harness([mirrorModule], [[MirrorParam, { service: 'next' }]]), /without MirrorTargetParam/);
});

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ManualClock } from '../../../src/core/clock.js';
import type { EndpointSlice } from '../../../src/discovery/kubernetes/endpoint-slices.js';
import { KubeApiClient } from '../../../src/discovery/kubernetes/kube-api-client.js';
import { ListWatch, type ListWatchOptions } from '../../../src/discovery/kubernetes/list-watch.js';
import { EventQueue } from '../../helpers/event-queue.js';
import { FakeKubeApi } from '../../helpers/fake-kube-api.js';
import { endpointSlice, fakeCredentials } from '../../helpers/kube-objects.js';
import { makeClusterTls } from '../../helpers/kube-tls.js';

const PATH = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const SELECTOR = 'kubernetes.io/service-name=reviews';

interface Harness {
  api: FakeKubeApi;
  clock: ManualClock;
  watch: ListWatch<EndpointSlice>;
  /** The collection's names after each onObjects. */
  snapshots: EventQueue<string[]>;
  errors: EventQueue<Error>;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

async function harness(options: Partial<ListWatchOptions> = {}, api?: FakeKubeApi): Promise<Harness> {
  const server = api ?? (await FakeKubeApi.start());
  const clock = new ManualClock();
  const client = new KubeApiClient(fakeCredentials(server));
  const watch = new ListWatch<EndpointSlice>({ client, path: PATH, labelSelector: SELECTOR, clock, random: () => 0, ...options });
  const snapshots = new EventQueue<string[]>();
  const errors = new EventQueue<Error>();
  watch.start({ onObjects: (objects) => snapshots.push([...objects.values()].map((o) => o.metadata.name).sort()), onError: errors.push });
  const close = async () => {
    await watch.close();
    await client.close();
    await server.close();
  };
  cleanups.push(close);
  return { api: server, clock, watch, snapshots, errors, close };
}

const watches = (api: FakeKubeApi) => api.requests.filter((r) => r.watch);
const lists = (api: FakeKubeApi) => api.requests.filter((r) => !r.watch);

test('lists, then watches from the list version with bookmarks and a timeoutSeconds; events cut into pieces of a few bytes arrive whole', async () => {
  const api = await FakeKubeApi.start();
  api.splitWrites = true;
  api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1']));
  api.put('endpointslices', endpointSlice('ratings', 'ratings-a', ['10.0.0.9']));
  const opened = api.nextWatch();
  const h = await harness({}, api);
  assert.deepEqual(await h.snapshots.next(), ['reviews-a']);
  const watch = await opened;
  assert.equal(lists(api)[0]!.query.get('labelSelector'), SELECTOR);
  assert.equal(watch.query.get('labelSelector'), SELECTOR);
  assert.equal(watch.query.get('resourceVersion'), String(api.resourceVersion));
  assert.equal(watch.query.get('allowWatchBookmarks'), 'true');
  const timeout = Number(watch.query.get('timeoutSeconds'));
  assert.ok(timeout >= 240 && timeout <= 300, `timeoutSeconds ${timeout}, jittered below 300`);

  api.put('endpointslices', endpointSlice('reviews', 'reviews-b', ['10.0.0.2']));
  assert.deepEqual(await h.snapshots.next(), ['reviews-a', 'reviews-b']);
  api.delete('endpointslices', 'default', 'reviews-a');
  assert.deepEqual(await h.snapshots.next(), ['reviews-b']);
  // A slice that loses the Service's label leaves the selection: the watch says DELETED.
  api.put('endpointslices', { ...endpointSlice('reviews', 'reviews-b', ['10.0.0.2']), metadata: { name: 'reviews-b', labels: { app: 'orphan' } } });
  assert.deepEqual(await h.snapshots.next(), []);
  assert.equal(h.watch.resourceVersion, String(api.resourceVersion));
  assert.equal(h.errors.all.length, 0);
  await h.close();
});

test('a BOOKMARK moves the resume point, and a watch ended by its timeoutSeconds resumes from it without a new list', async () => {
  const h = await harness({ watchTimeoutSeconds: 1 });
  await h.snapshots.next();
  await h.api.nextWatch();
  // Changes outside the selection move the server's version without any event for this watch.
  h.api.put('endpointslices', endpointSlice('ratings', 'ratings-a', ['10.0.0.9']));
  h.api.bookmark();
  const next = await h.api.nextWatch(); // the server ends the watch after timeoutSeconds
  assert.equal(next.query.get('resourceVersion'), String(h.api.resourceVersion));
  assert.equal(lists(h.api).length, 1);
  assert.equal(h.errors.all.length, 0);
  await h.close();
});

for (const expiredAs of ['event', 'status'] as const) {
  test(`410 Gone as ${expiredAs === 'event' ? 'a 200 with an ERROR event' : 'an HTTP status'}: list again, nothing lost and nothing twice`, async () => {
    const api = await FakeKubeApi.start();
    api.expiredAs = expiredAs;
    for (const n of [1, 2, 3]) api.put('endpointslices', endpointSlice('reviews', `reviews-${n}`, [`10.0.0.${n}`]));
    const h = await harness({}, api);
    assert.deepEqual(await h.snapshots.next(), ['reviews-1', 'reviews-2', 'reviews-3']);
    await api.nextWatch();
    // Down while the Service changes, and the history is compacted meanwhile.
    await api.stop();
    await h.errors.next('the watch failing');
    api.delete('endpointslices', 'default', 'reviews-1');
    api.put('endpointslices', endpointSlice('reviews', 'reviews-2', ['10.0.0.2', '10.0.0.22']));
    api.put('endpointslices', endpointSlice('reviews', 'reviews-4', ['10.0.0.4']));
    api.compact();
    await api.start();
    const relisted = api.nextList();
    await tick();
    h.clock.advance(1_000);
    await relisted;
    assert.deepEqual(await h.snapshots.until((s) => s.includes('reviews-4')), ['reviews-2', 'reviews-3', 'reviews-4']);
    assert.equal(h.watch.stats.relists, 1);
    assert.equal(watches(api).filter((w) => w.status === 410).length, expiredAs === 'status' ? 1 : 0);
    // And it watches on from the new list.
    const resumed = await api.nextWatch();
    assert.equal(resumed.query.get('resourceVersion'), String(api.resourceVersion));
    await h.close();
  });
}

test('429 waits for its Retry-After and 500 for a jittered backoff on the clock; both resume from the last version without a list', async () => {
  const h = await harness({ backoff: { baseMs: 1_000, maxMs: 30_000 } });
  await h.snapshots.next();
  await h.api.nextWatch();
  h.api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1']));
  await h.snapshots.next();
  const lastSeen = h.watch.resourceVersion;

  h.api.failNext(1, 429, { retryAfterSeconds: 3, only: 'watch' });
  h.api.resetWatches();
  assert.match((await h.errors.next('the reset')).message, /the watch stream broke/);
  await tick();
  h.clock.advance(500); // the first backoff: between 500 and 1 000 ms; random() = 0 gives 500
  assert.match((await h.errors.next('the 429')).message, /HTTP 429 TooManyRequests: Too many requests/);
  await tick();
  const before = h.api.requests.length;
  h.clock.advance(2_900);
  await tick();
  assert.equal(h.api.requests.length, before, 'nothing is sent before Retry-After has passed');
  h.api.failNext(1, 500, { only: 'watch' });
  h.clock.advance(100);
  assert.match((await h.errors.next('the 500')).message, /HTTP 500 InternalError: Internal error occurred/);
  await tick();
  const reopened = h.api.nextWatch();
  h.clock.advance(2_000); // the third failure's wait: half of min(30 s, 4 s)
  const watch = await reopened;
  assert.equal(watch.query.get('resourceVersion'), lastSeen);
  assert.equal(lists(h.api).length, 1);
  assert.equal(h.watch.stats.failures, 3);
  await h.close();
});

test('a stream cut in the middle of an event: the half line is dropped and the watch resumes after the last whole one', async () => {
  const h = await harness();
  await h.snapshots.next();
  await h.api.nextWatch();
  h.api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1']));
  assert.deepEqual(await h.snapshots.next(), ['reviews-a']);
  const resumeFrom = h.watch.resourceVersion;
  h.api.resetWatches({ midLine: true });
  await h.errors.next('the cut');
  h.api.put('endpointslices', endpointSlice('reviews', 'reviews-b', ['10.0.0.2']));
  await tick();
  const reopened = h.api.nextWatch();
  h.clock.advance(1_000);
  assert.equal((await reopened).query.get('resourceVersion'), resumeFrom);
  assert.deepEqual(await h.snapshots.next(), ['reviews-a', 'reviews-b']);
  assert.equal(lists(h.api).length, 1);
  await h.close();
});

test('a list longer than one page is read whole, at the first page version', async () => {
  const api = await FakeKubeApi.start();
  for (let n = 1; n <= 5; n++) api.put('endpointslices', endpointSlice('reviews', `reviews-${n}`, [`10.0.0.${n}`]));
  const h = await harness({ pageSize: 2 }, api);
  assert.deepEqual(await h.snapshots.next(), ['reviews-1', 'reviews-2', 'reviews-3', 'reviews-4', 'reviews-5']);
  assert.deepEqual(
    lists(api).map((r) => [r.query.get('limit'), r.query.get('continue') !== null]),
    [
      ['2', false],
      ['2', true],
      ['2', true],
    ],
  );
  await h.close();
});

test('over TLS with the cluster CA and a bearer token; a rejected token is reported with the server message and retried', async () => {
  const tls = await makeClusterTls();
  const api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem }, tokens: ['good'] });
  api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1']));
  let token = 'stale';
  const clock = new ManualClock();
  const client = new KubeApiClient(fakeCredentials(api, { token: () => token, ca: tls.caPem }));
  const watch = new ListWatch<EndpointSlice>({ client, path: PATH, labelSelector: SELECTOR, clock, random: () => 0 });
  const snapshots = new EventQueue<string[]>();
  const errors = new EventQueue<Error>();
  watch.start({ onObjects: (o) => snapshots.push([...o.keys()]), onError: errors.push });
  try {
    assert.match((await errors.next()).message, /^https:\/\/127\.0\.0\.1:\d+\/apis\/discovery\.k8s\.io\/v1\/namespaces\/default\/endpointslices: HTTP 401 Unauthorized: Unauthorized \(the token or client certificate was not accepted\)$/);
    token = 'good';
    await tick();
    clock.advance(1_000);
    assert.deepEqual(await snapshots.next(), ['default/reviews-a']);
    assert.deepEqual(
      api.requests.map((r) => r.token),
      ['stale', 'good', ...api.requests.slice(2).map(() => 'good')],
    );
  } finally {
    await watch.close();
    await client.close();
    await api.close();
  }
});

test('a server certificate that does not chain to the cluster CA is refused', async () => {
  const tls = await makeClusterTls();
  const other = await makeClusterTls();
  const api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem } });
  const client = new KubeApiClient(fakeCredentials(api, { ca: other.caPem }));
  try {
    await assert.rejects(client.get(PATH), (err: Error & { status?: number }) => err.status === 0 && /CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/.test(err.message));
    assert.equal(api.requests.length, 0);
  } finally {
    await client.close();
    await api.close();
  }
});

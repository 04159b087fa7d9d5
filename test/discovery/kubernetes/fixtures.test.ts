/**
 * The fake API server is only as good as its likeness to kube-apiserver: here it must answer the
 * captured operations with the captured documents (resource versions aside, which are the fake's
 * own counter), and the client must read the captured bytes as they are.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { ManualClock } from '../../../src/core/clock.js';
import { endpointsFromSlices, type EndpointSlice } from '../../../src/discovery/kubernetes/endpoint-slices.js';
import { KubeApiClient } from '../../../src/discovery/kubernetes/kube-api-client.js';
import { ListWatch } from '../../../src/discovery/kubernetes/list-watch.js';
import { EventQueue } from '../../helpers/event-queue.js';
import { FakeKubeApi, type KubeObjectInput } from '../../helpers/fake-kube-api.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/kubernetes/${name}`, import.meta.url), 'utf8');
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
const LIST = JSON.parse(fixture('endpointslice-list.json')) as { metadata: { resourceVersion: string }; items: KubeObjectInput[] };
const WATCH = lines(fixture('endpointslice-watch.jsonl'));
const PATH = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const SELECTOR = 'kubernetes.io/service-name=reviews';

/** Resource versions are each server's own counter: compare everything else. */
function normalized(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) => {
    if (key === 'resourceVersion' && typeof v === 'string') return 'RV';
    if (key === 'message' && typeof v === 'string') return v.replace(/\d+/g, 'N');
    return v;
  });
}

const withoutVersion = (object: Record<string, unknown>) => {
  const metadata = { ...(object.metadata as Record<string, unknown>) };
  delete metadata.resourceVersion;
  return { ...object, metadata } as KubeObjectInput;
};

async function watchLines(api: FakeKubeApi, resourceVersion: string, count: number): Promise<Record<string, unknown>[]> {
  const res = await request(`${api.url}${PATH}?labelSelector=${encodeURIComponent(SELECTOR)}&watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`);
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  const got: Record<string, unknown>[] = [];
  let buffered = '';
  for await (const chunk of res.body) {
    buffered += String(chunk);
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    got.push(...parts.map((p) => JSON.parse(p) as Record<string, unknown>));
    if (got.length >= count) break;
  }
  res.body.destroy();
  return got;
}

test('the fake answers a list of EndpointSlices with the captured document', async () => {
  const api = await FakeKubeApi.start();
  try {
    for (const item of LIST.items) api.put('endpointslices', withoutVersion(item as unknown as Record<string, unknown>));
    api.put('endpointslices', { metadata: { name: 'ratings-1', labels: { 'kubernetes.io/service-name': 'ratings' } }, addressType: 'IPv4', endpoints: [], ports: [] });
    const res = await request(`${api.url}${PATH}?labelSelector=${encodeURIComponent(SELECTOR)}`);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(normalized(await res.body.json()), normalized(LIST));
  } finally {
    await api.close();
  }
});

test('the fake streams the captured watch lines for the same changes, and the ERROR 410 after a compaction', async () => {
  const api = await FakeKubeApi.start();
  try {
    for (const item of LIST.items) api.put('endpointslices', withoutVersion(item as unknown as Record<string, unknown>));
    const from = String(api.resourceVersion);
    const streamed = watchLines(api, from, 4);
    await api.nextWatch();
    const [modified, , added] = WATCH.map((e) => withoutVersion(e.object as Record<string, unknown>));
    api.put('endpointslices', modified!);
    api.bookmark();
    api.put('endpointslices', added!);
    api.delete('endpointslices', 'default', added!.metadata.name);
    assert.deepEqual(normalized(await streamed), normalized(WATCH.slice(0, 4)));

    api.compact();
    assert.deepEqual(normalized(await watchLines(api, from, 1)), normalized(WATCH.slice(4)));
    api.expiredAs = 'status';
    const res = await request(`${api.url}${PATH}?watch=1&resourceVersion=${from}`);
    assert.equal(res.statusCode, 410);
    assert.deepEqual(normalized(await res.body.json()), normalized(JSON.parse(fixture('status-410-expired.json'))));
  } finally {
    await api.close();
  }
});

test('the fake streams a ServiceProfile (a custom resource) as the captured line', async () => {
  const [captured] = lines(fixture('serviceprofile-watch.jsonl'));
  const api = await FakeKubeApi.start();
  try {
    const res = request(`${api.url}/apis/linkerd.io/v1alpha2/namespaces/default/serviceprofiles?watch=1&resourceVersion=${api.resourceVersion}`);
    await api.nextWatch();
    api.put('serviceprofiles', withoutVersion(captured!.object as Record<string, unknown>));
    const body = (await res).body;
    let text = '';
    for await (const chunk of body) {
      text += String(chunk);
      if (text.includes('\n')) break;
    }
    body.destroy();
    assert.deepEqual(normalized(JSON.parse(text)), normalized(captured));
  } finally {
    await api.close();
  }
});

test('the client reads the captured bytes as they are: list, watch events, the ERROR 410 and a relist', async () => {
  const listText = fixture('endpointslice-list.json');
  const watchLines = fixture('endpointslice-watch.jsonl').split('\n').filter(Boolean);
  let listsServed = 0;
  const watchOpened = new EventQueue<ServerResponse>();
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.searchParams.get('watch') !== '1') {
      listsServed++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(listText);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    if (url.searchParams.get('resourceVersion') === LIST.metadata.resourceVersion && listsServed === 1) watchOpened.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new KubeApiClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, source: 'test', namespace: 'default', tls: {}, token: async () => undefined });
  const watch = new ListWatch<EndpointSlice>({ client, path: PATH, labelSelector: SELECTOR, clock: new ManualClock() });
  const sets = new EventQueue<string[]>();
  watch.start({ onObjects: (o) => sets.push(endpointsFromSlices(o.values(), 'http').map((e) => `${e.host}:${e.port}`).sort()), onError: () => undefined });
  try {
    assert.deepEqual(await sets.next(), ['10.244.1.12:9080', '10.244.1.13:9080', '10.244.2.7:9080']);
    const stream = await watchOpened.next('the watch');
    // Each captured line (the bookmark with the one after it) is written once the last was applied.
    const send = (...captured: string[]) => stream.write(captured.map((l) => `${l}\n`).join(''));
    send(watchLines[0]!);
    // MODIFIED: 10.244.1.12 terminating while others are ready, so out.
    assert.deepEqual(await sets.next(), ['10.244.1.13:9080', '10.244.2.7:9080']);
    // BOOKMARK, then ADDED: a second slice whose named port is 9081 there.
    send(watchLines[1]!, watchLines[2]!);
    assert.deepEqual(await sets.next(), ['10.244.1.13:9080', '10.244.2.7:9080', '10.244.3.4:9081']);
    assert.equal(watch.resourceVersion, '1059');
    send(watchLines[3]!);
    assert.deepEqual(await sets.next(), ['10.244.1.13:9080', '10.244.2.7:9080']);
    // ERROR 410: listed again, back to the captured list.
    send(watchLines[4]!);
    assert.deepEqual(await sets.next(), ['10.244.1.12:9080', '10.244.1.13:9080', '10.244.2.7:9080']);
    assert.equal(watch.stats.relists, 1);
    assert.equal(listsServed, 2);
  } finally {
    await watch.close();
    await client.close();
    server.closeAllConnections();
    server.close();
  }
});

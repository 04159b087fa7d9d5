/**
 * meshClient over `discovery: { type: kubernetes, ... }` against the fake API server (TLS, a bearer
 * token in a kubeconfig) and pods on 127.0.0.2.. sharing a port: what a Service's clients live
 * through — scaling, readiness, rollouts, relists and control-plane outages.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';
import { meshClient, type MeshClient } from '../../src/index.js';
import { EventQueue } from '../helpers/event-queue.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { endpointSlice, writeKubeconfig, type SliceEndpointSpec } from '../helpers/kube-objects.js';
import { makeClusterTls } from '../helpers/kube-tls.js';
import { startPods, type Pod } from '../helpers/pod-backends.js';

const TOKEN = 'sa-token-reviews';
const closing: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closing.reverse()) await close().catch(() => undefined);
});

interface Cluster {
  api: FakeKubeApi;
  kubeconfig: string;
  pods: Pod[];
  /** Writes one EndpointSlice of the reviews Service with these pods (by index) and conditions. */
  slice(name: string, endpoints: [number, Omit<SliceEndpointSpec, 'ip'>?][]): void;
}

async function cluster(podCount: number): Promise<Cluster> {
  const tls = await makeClusterTls();
  const api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem }, tokens: [TOKEN] });
  const kubeconfig = writeKubeconfig(mkdtempSync(join(tmpdir(), 'meshwork-k8s-')), api, { caPem: tls.caPem, token: TOKEN });
  const pods = await startPods(podCount);
  closing.push(() => api.close(), () => Promise.all(pods.map((p) => p.stop())));
  return {
    api,
    kubeconfig,
    pods,
    slice: (name, endpoints) =>
      api.put('endpointslices', endpointSlice('reviews', name, endpoints.map(([i, conditions]) => ({ ip: pods[i]!.ip, ...conditions })), { name: 'http', port: pods[0]!.port })),
  };
}

interface LogEntry {
  level: string;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

function client(c: Cluster, extra: { clock?: ManualClock; random?: () => number; balancer?: 'round-robin' } = {}): { client: MeshClient; logs: EventQueue<LogEntry> } {
  const logs = new EventQueue<LogEntry>();
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => logs.push({ level, msg, fields });
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const mesh = meshClient('reviews', {
    discovery: { type: 'kubernetes', service: 'reviews', namespace: 'default', port: 'http', kubeconfig: c.kubeconfig },
    // Nothing may hide a request sent to the wrong pod.
    retries: false,
    outlierDetection: false,
    circuitBreaker: false,
    logger,
    ...extra,
  });
  closing.push(() => mesh.close());
  return { client: mesh, logs };
}

const keys = (c: MeshClient) => c.endpoints().map((e) => e.endpoint).sort();
const podKeys = (pods: Pod[]) => pods.map((p) => `${p.ip}:${p.port}`).sort();

/** Waits, update by update, until the balancer holds exactly these pods. */
async function untilEndpoints(c: MeshClient, logs: EventQueue<LogEntry>, pods: Pod[]): Promise<void> {
  const want = podKeys(pods);
  while (JSON.stringify(keys(c)) !== JSON.stringify(want)) {
    await logs.until((e) => e.msg === 'endpoints updated', `endpoints ${want.join(', ')} (have ${keys(c).join(', ')})`);
  }
}

/** Requests in a closed loop from `workers` callers, each answer's pod counted. */
function load(c: MeshClient, workers: number) {
  let running = true;
  const failures: Error[] = [];
  const byPod = new Map<string, number>();
  const inFlight = new Map<Promise<void>, number>();
  const completed = new EventQueue<number>();
  let done = 0;
  const one = async () => {
    const res = await c.request({ method: 'GET', path: '/' });
    const pod = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    byPod.set(pod, (byPod.get(pod) ?? 0) + 1);
  };
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const request = one().catch((err: Error) => void failures.push(err));
      inFlight.set(request, performance.now());
      await request;
      inFlight.delete(request);
      completed.push(++done);
    }
  });
  return {
    failures,
    byPod,
    /** Resolves once `n` more requests have completed. */
    more: async (n: number) => {
      const target = done + n;
      await completed.until((count) => count >= target, `${n} more requests`);
    },
    /** Resolves when every request started before now has finished. */
    settled: () => Promise.all([...inFlight.keys()]),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

test('scale up and down under load: pods join when ready, leave when terminating, and not one request fails', async () => {
  const c = await cluster(4);
  const [p0, p1, p2, p3] = c.pods as [Pod, Pod, Pod, Pod];
  c.slice('reviews-a', [[0], [1]]);
  const { client: reviews, logs } = client(c);
  const traffic = load(reviews, 8);
  try {
    await untilEndpoints(reviews, logs, [p0, p1]);
    await traffic.more(100);

    // Scale up: new pods appear not ready (starting), in a second slice, then turn ready.
    c.slice('reviews-b', [[2, { ready: false }], [3, { ready: false }]]);
    await traffic.more(100);
    assert.deepEqual(keys(reviews), podKeys([p0, p1]), 'pods still starting take no traffic');
    c.slice('reviews-b', [[2], [3]]);
    await untilEndpoints(reviews, logs, [p0, p1, p2, p3]);
    await traffic.more(200);
    assert.ok((traffic.byPod.get(p2.ip) ?? 0) > 0 && (traffic.byPod.get(p3.ip) ?? 0) > 0, `new pods got traffic: ${JSON.stringify([...traffic.byPod])}`);

    // Scale down: the old pods terminate (serving while they drain), then stop and leave the slice.
    c.slice('reviews-a', [[0, { ready: false, serving: true, terminating: true }], [1, { ready: false, serving: true, terminating: true }]]);
    await untilEndpoints(reviews, logs, [p2, p3]);
    await traffic.settled();
    const servedByOld = p0.arrivals.length + p1.arrivals.length;
    await Promise.all([p0.stop(), p1.stop()]);
    c.slice('reviews-a', []);
    await traffic.more(200);
    assert.equal(p0.arrivals.length + p1.arrivals.length, servedByOld, 'terminating pods get nothing new');
  } finally {
    await traffic.stop();
  }
  assert.deepEqual(traffic.failures.map((e) => e.message), []);
});

test('a pod that turns not ready gets no new request once the event is applied, with no timer involved, and its requests in flight finish', async () => {
  const c = await cluster(2);
  const [p0, p1] = c.pods as [Pod, Pod];
  c.slice('reviews-a', [[0], [1]]);
  // A clock that never moves: whatever removes the pod must be the watch event itself.
  const { client: reviews, logs } = client(c, { clock: new ManualClock() });
  await untilEndpoints(reviews, logs, [p0, p1]);
  const traffic = load(reviews, 4);
  try {
    await traffic.more(50);
    const slow = Array.from({ length: 6 }, () => reviews.request({ method: 'GET', path: '/slow' }));
    await tick();
    c.slice('reviews-a', [[0, { ready: false }], [1]]);
    await untilEndpoints(reviews, logs, [p1]);
    const answers = await Promise.all(slow.map(async (r) => ({ status: (await r).statusCode, pod: await (await r).body.text() })));
    assert.ok(answers.every((a) => a.status === 200));
    assert.ok(answers.some((a) => a.pod === p0.ip), 'some slow requests were in flight on the pod that turned not ready, and finished');
    // Everything picked before the update has finished; from here p0 must see nothing.
    await traffic.settled();
    const seen = p0.arrivals.length;
    await traffic.more(200);
    assert.equal(p0.arrivals.length, seen);
  } finally {
    await traffic.stop();
  }
  assert.deepEqual(traffic.failures, []);
});

test('terminating (still serving) endpoints take traffic only while no endpoint is ready', async () => {
  const c = await cluster(2);
  const [p0, p1] = c.pods as [Pod, Pod];
  const draining = { ready: false, serving: true, terminating: true };
  c.slice('reviews-a', [[0], [1, draining]]);
  const { client: reviews, logs } = client(c);
  const podsOf = async (n: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await (await reviews.request({ method: 'GET', path: '/' })).body.text());
    return [...seen].sort();
  };
  await untilEndpoints(reviews, logs, [p0]);
  assert.deepEqual(await podsOf(20), [p0.ip]);
  c.slice('reviews-a', [[0, { ready: false, serving: false }], [1, draining]]);
  await untilEndpoints(reviews, logs, [p1]);
  assert.deepEqual(await podsOf(20), [p1.ip]);
  c.slice('reviews-a', [[0], [1, draining]]);
  await untilEndpoints(reviews, logs, [p0]);
  assert.deepEqual(await podsOf(20), [p0.ip]);
  // Terminating and no longer serving: nothing is left, and the error says where endpoints come from.
  c.slice('reviews-a', [[0, { ready: false, serving: false }], [1, { ready: false, serving: false, terminating: true }]]);
  await untilEndpoints(reviews, logs, []);
  await assert.rejects(reviews.request({ method: 'GET', path: '/' }), /NO_ENDPOINTS|has no endpoints \(discovery: k8s:reviews\.default:http\)/);
});

test('after 410 Gone the client relists: endpoints changed meanwhile are all there, and none twice', async () => {
  const c = await cluster(4);
  const [p0, p1, p2, p3] = c.pods as [Pod, Pod, Pod, Pod];
  c.slice('reviews-a', [[0], [1]]);
  c.slice('reviews-b', [[2]]);
  const clock = new ManualClock();
  const { client: reviews, logs } = client(c, { clock, random: () => 0, balancer: 'round-robin' });
  await untilEndpoints(reviews, logs, [p0, p1, p2]);
  await c.api.stop();
  await logs.until((e) => e.level === 'warn' && e.msg === 'discovery failed; keeping the last known endpoints');
  // Meanwhile: a slice goes, pods move, one pod is listed in two slices (the controller moving it).
  c.api.delete('endpointslices', 'default', 'reviews-b');
  c.slice('reviews-a', [[1], [3]]);
  c.slice('reviews-c', [[1], [3, { ready: false }]]);
  c.api.compact();
  await c.api.start();
  await tick();
  clock.advance(1_000);
  await untilEndpoints(reviews, logs, [p1, p3]);
  assert.equal(reviews.endpoints().length, 2);
  assert.equal(c.api.requests.filter((r) => !r.watch).length, 2, 'one list at start, one after the 410');
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(await (await reviews.request({ method: 'GET', path: '/' })).body.text());
  assert.deepEqual([...seen].sort(), [p1.ip, p3.ip].sort());
});

test('the API server down for 10 s: traffic keeps flowing to the last endpoints, the outage shows in a metric, and the watch resumes where it stopped', async () => {
  const c = await cluster(3);
  const [p0, p1, p2] = c.pods as [Pod, Pod, Pod];
  c.slice('reviews-a', [[0], [1]]);
  const clock = new ManualClock();
  const watching = c.api.nextWatch();
  const { client: reviews, logs } = client(c, { clock, random: () => 0 });
  await untilEndpoints(reviews, logs, [p0, p1]);
  await watching;
  const listsBefore = c.api.requests.filter((r) => !r.watch).length;
  const resumeFrom = String(c.api.resourceVersion);

  await c.api.stop();
  // The Service changes while the control plane is away; nobody can tell the client yet.
  c.slice('reviews-a', [[0], [1], [2]]);
  const failuresSeen = () => logs.all.filter((e) => e.msg === 'discovery failed; keeping the last known endpoints').length;
  for (let second = 1; second <= 10; second++) {
    await tick();
    clock.advance(1_000);
    await tick();
    for (let i = 0; i < 10; i++) {
      const res = await reviews.request({ method: 'GET', path: '/' });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
  }
  assert.ok(failuresSeen() >= 4, `retried through the outage with a growing backoff (${failuresSeen()} failures)`);
  const metrics = await reviews.registry.metrics();
  const counted = Number(/meshwork_discovery_errors_total\{authority="reviews"\} (\d+)/.exec(metrics)?.[1]);
  assert.equal(counted, failuresSeen());
  assert.deepEqual(keys(reviews), podKeys([p0, p1]));

  const reopened = c.api.nextWatch();
  await c.api.start();
  clock.advance(16_000);
  const watch = await reopened;
  assert.equal(watch.query.get('resourceVersion'), resumeFrom, 'resumed from the last version seen, not relisted');
  await untilEndpoints(reviews, logs, [p0, p1, p2]);
  assert.equal(c.api.requests.filter((r) => !r.watch).length, listsBefore);
});

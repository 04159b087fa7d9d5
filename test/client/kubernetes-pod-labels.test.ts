/**
 * Subsets over Kubernetes discovery: EndpointSlices carry no pod labels, so a service with subsets
 * also watches its namespace's pods and labels each endpoint with its pod's (found by targetRef),
 * against the fake API server and pods on 127.0.0.2.. sharing a port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { meshClient } from '../../src/index.js';
import { EventQueue } from '../helpers/event-queue.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { endpointSlice, writeKubeconfig } from '../helpers/kube-objects.js';
import { startPods } from '../helpers/pod-backends.js';

const TOKEN = 'sa-token-reviews';
const closing: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closing.reverse()) await close().catch(() => undefined);
});

test('a subset selects pods by their labels, and a relabelled pod moves between subsets when the event arrives', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  closing.push(() => api.close());
  const kubeconfig = writeKubeconfig(mkdtempSync(join(tmpdir(), 'meshwork-k8s-labels-')), api, { token: TOKEN });
  const pods = await startPods(3, { first: 12 });
  closing.push(() => Promise.all(pods.map((p) => p.stop())));
  const podName = (ip: string) => `reviews-${ip.replace(/\./g, '-')}`;
  const putPod = (ip: string, version: string) => api.put('pods', { metadata: { name: podName(ip), namespace: 'default', labels: { app: 'reviews', version } }, spec: {}, status: { podIP: ip } });
  putPod(pods[0]!.ip, 'v1');
  putPod(pods[1]!.ip, 'v2');
  putPod(pods[2]!.ip, 'v2');
  // A pod of another app in the namespace: watched too, never an endpoint.
  api.put('pods', { metadata: { name: 'ratings-0', namespace: 'default', labels: { app: 'ratings', version: 'v2' } }, spec: {} });
  api.put('endpointslices', endpointSlice('reviews', 'reviews-abc', pods.map((p) => p.ip), { name: 'http', port: pods[0]!.port }));

  const updates = new EventQueue<string>();
  const ignore = () => {};
  const logger: Logger = { debug: (msg) => updates.push(msg), info: ignore, warn: ignore, error: ignore };
  const client = meshClient('reviews', {
    discovery: { type: 'kubernetes', service: 'reviews', namespace: 'default', port: 'http', kubeconfig },
    subsets: { v1: { labels: { version: 'v1' } }, v2: { labels: { app: 'reviews', version: 'v2' } } },
    split: [{ service: 'reviews', subset: 'v2', weight: 100 }],
    retries: false,
    outlierDetection: false,
    circuitBreaker: false,
    logger,
  });
  closing.push(() => client.close());
  const servedBy = async (n: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const res = await client.request({ path: '/' });
      assert.equal(res.statusCode, 200);
      seen.add(await res.body.text());
    }
    return [...seen].sort();
  };

  // Nothing is reported before the pods are known too: the first set is already labelled.
  const first = servedBy(30);
  await updates.until((msg) => msg === 'endpoints updated', 'the first endpoint set');
  assert.deepEqual(await first, [pods[1]!.ip, pods[2]!.ip].sort(), 'only the v2 pods');
  assert.deepEqual(client.endpoints().map((e) => e.endpoint).sort(), pods.map((p) => `${p.ip}:${p.port}`).sort(), 'one balancer holds every pod');

  putPod(pods[2]!.ip, 'v1');
  await updates.until((msg) => msg === 'endpoints updated', 'the relabelled pod');
  assert.deepEqual(await servedBy(20), [pods[1]!.ip]);
});

/**
 * ServiceProfiles read from the API server (spec.kubernetes.serviceProfiles), through createMesh and
 * a real backend: applied as the same profile in the YAML file would be, hot, and a bad object
 * keeps its last good version with an error that names it and the field.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import type { Logger } from '../../src/core/logger.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { createMesh } from '../../src/index.js';
import { EventQueue } from '../helpers/event-queue.js';
import { FakeKubeApi, type KubeObjectInput } from '../helpers/fake-kube-api.js';
import { startBackend } from '../helpers/http-backend.js';
import { writeKubeconfig } from '../helpers/kube-objects.js';

const closing: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closing.reverse()) await close().catch(() => undefined);
});

const NAME = 'reviews.default.svc.cluster.local';
const profile = (spec: Record<string, unknown>, name = NAME, labels?: Record<string, string>): KubeObjectInput => ({
  apiVersion: 'linkerd.io/v1alpha2',
  kind: 'ServiceProfile',
  metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) },
  spec,
});
const ROUTES = {
  routes: [{ name: 'GET /reviews/{id}', condition: { method: 'GET', pathRegex: '/reviews/[^/]*' }, isRetryable: true, timeout: '300ms' }],
  retryBudget: { retryRatio: 0.3, minRetriesPerSecond: 5, ttl: '20s' },
};

interface LogEntry {
  msg: string;
  fields: Record<string, unknown> | undefined;
}

async function setup(serviceProfiles: Record<string, string>) {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  const backend = await startBackend('reviews');
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-profiles-'));
  writeKubeconfig(dir, api, { token: 't' });
  const meshYaml = (extra = '') => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  kubernetes:
    kubeconfig: ./kubeconfig
    serviceProfiles: ${JSON.stringify(serviceProfiles)}
  services:
    reviews: { endpoints: ["${backend.address}"], retries: { backoff: { base: 5ms } } }
    ratings: { endpoints: ["${backend.address}"] }
${extra}`;
  const configPath = join(dir, 'mesh.yaml');
  writeFileSync(configPath, meshYaml());
  const logs = new EventQueue<LogEntry>();
  const log = (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields });
  const logger: Logger = { debug: log, info: log, warn: log, error: log };
  const mesh = createMesh({ config: configPath, logger });
  closing.push(() => mesh.close(), () => backend.stop(), () => api.close());
  return { api, backend, mesh, logs, meshYaml };
}

test('a ServiceProfile in the cluster applies exactly as the same profile in the config file', async () => {
  const { api, mesh, logs, meshYaml } = await setup({ namespace: 'default' });
  assert.equal(mesh.client('reviews').settings.policy.routes, undefined);
  api.put('serviceprofiles', profile(ROUTES));
  await logs.until((e) => e.msg === 'config reloaded');
  const fromFile = parseMeshConfig(`${meshYaml()}---\n${stringify(profile(ROUTES))}`, 'mesh.yaml');
  assert.deepEqual(mesh.client('reviews').settings, fromFile.services.reviews);
  assert.deepEqual(mesh.client('ratings').settings, fromFile.services.ratings);
  // And requests follow it: the route's name labels the metrics.
  const res = await mesh.client('reviews').request({ method: 'GET', path: '/reviews/1' });
  await res.body.dump();
  assert.match(await mesh.registry.metrics(), /response_total\{[^}]*authority="reviews"[^}]*route="GET \/reviews\/\{id\}"/);

  // A profile for a service this mesh does not have is no error.
  api.put('serviceprofiles', profile(ROUTES, 'details.default.svc.cluster.local'));
  api.delete('serviceprofiles', 'default', NAME);
  await logs.until((e) => e.msg === 'config reloaded');
  assert.equal(mesh.client('reviews').settings.policy.routes, undefined);
  assert.equal(mesh.configError, undefined);
});

test('a bad ServiceProfile object keeps its last good version; the error names namespace/name and the field', async () => {
  const { api, mesh, logs } = await setup({ namespace: 'default' });
  api.put('serviceprofiles', profile(ROUTES));
  await logs.until((e) => e.msg === 'config reloaded');
  const good = mesh.client('reviews').settings;
  const generation = mesh.configGeneration;

  api.put('serviceprofiles', profile({ routes: [{ name: 'broken', condition: { pathRegex: '/reviews/(' } }] }));
  const bad = await logs.until((e) => e.msg === 'a ServiceProfile from the cluster is invalid');
  assert.match(String(bad.fields?.problem), /^ServiceProfile default\/reviews\.default\.svc\.cluster\.local: spec\.routes\[0\]\.condition\.pathRegex: not a valid regular expression .*, got "\/reviews\/\("; its last good version stays in force$/);
  assert.match(mesh.configError?.message ?? '', /ServiceProfiles from the cluster \(1 problem\):\n {2}ServiceProfile default\/reviews\.default\.svc\.cluster\.local: spec\.routes\[0\]\.condition\.pathRegex/);
  assert.deepEqual(mesh.client('reviews').settings, good);
  assert.equal(mesh.configGeneration, generation);

  // A value only the merged service rejects (a duration) is named by the profile's own field.
  api.put('serviceprofiles', profile({ ...ROUTES, retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: 'ten seconds' } }));
  const ttl = await logs.until((e) => e.msg === 'a ServiceProfile from the cluster is invalid');
  assert.match(String(ttl.fields?.problem), /ServiceProfile default\/reviews\.default\.svc\.cluster\.local: spec\.retryBudget\.ttl: expected a duration such as 250ms, 2s or 1m, got "ten seconds"/);
  assert.deepEqual(mesh.client('reviews').settings, good);

  // Fixed: applied, and the error is gone.
  const fixed = { ...ROUTES, routes: [{ ...ROUTES.routes[0], timeout: '1s' }] };
  api.put('serviceprofiles', profile(fixed));
  await logs.until((e) => e.msg === 'config reloaded');
  assert.equal(mesh.client('reviews').settings.policy.routes?.[0]?.timeoutMs, 1_000);
  assert.equal(mesh.configError, undefined);
});

test('a label selector picks the profiles; while the API server is away the last ones stay in force', async () => {
  const { api, mesh, logs } = await setup({ labelSelector: 'mesh=meshwork' });
  api.put('serviceprofiles', profile(ROUTES, NAME, { mesh: 'other' }));
  api.put('serviceprofiles', profile({ routes: [{ name: 'all', condition: { pathRegex: '.*' } }] }, 'ratings.default.svc.cluster.local', { mesh: 'meshwork' }));
  await logs.until((e) => e.msg === 'config reloaded');
  assert.equal(mesh.client('reviews').settings.policy.routes, undefined);
  assert.equal(mesh.client('ratings').settings.policy.routes?.[0]?.name, 'all');
  assert.equal(api.requests[0]!.query.get('labelSelector'), 'mesh=meshwork');
  await api.stop();
  await logs.until((e) => e.msg === 'cannot read ServiceProfiles from the cluster; the last ones seen stay in force');
  assert.equal(mesh.client('ratings').settings.policy.routes?.[0]?.name, 'all');
  const res = await mesh.client('ratings').request({ method: 'GET', path: '/x' });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
});

/**
 * mesh-sidecar in a "cluster": its whole config from a ConfigMap, a service discovered from
 * EndpointSlices, both read from the fake API server over TLS with a kubeconfig token, as the
 * process would in a pod.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { endpointSlice, writeKubeconfig } from '../helpers/kube-objects.js';
import { makeClusterTls } from '../helpers/kube-tls.js';
import { startPods, type Pod } from '../helpers/pod-backends.js';
import { ensureBuilt, metricValue, SIDECAR_BIN, startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const TOKEN = 'sidecar-sa-token';
let api: FakeKubeApi;
let kubeconfig: string;
let pods: Pod[];

before(async () => {
  ensureBuilt();
  const tls = await makeClusterTls();
  api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem }, tokens: [TOKEN] });
  kubeconfig = writeKubeconfig(mkdtempSync(join(tmpdir(), 'meshwork-sidecar-k8s-')), api, { caPem: tls.caPem, token: TOKEN });
  pods = await startPods(2, { first: 20 });
  api.put('endpointslices', endpointSlice('reviews', 'reviews-a', pods.map((p) => p.ip), { name: 'http', port: pods[0]!.port }));
});
after(async () => {
  await api.close();
  await Promise.all(pods.map((p) => p.stop()));
});

const mesh = (extra = '') => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    reviews:
      discovery: "k8s:reviews.default:http"
      retries: false
${extra}`;
const putConfig = (text: string) => api.put('configmaps', { metadata: { name: 'mesh-config', namespace: 'default' }, data: { 'mesh.yaml': text } });

/** Resolves when the sidecar has logged a line that satisfies `test`. */
function logged(sidecar: SidecarProcess, test: (entry: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  const from = sidecar.logs.length;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the sidecar did not log ${what} in 10 s: ${JSON.stringify(sidecar.logs.slice(from))}`)), 10_000);
    const check = () => {
      const found = sidecar.logs.slice(from).find(test);
      if (!found) return;
      clearTimeout(timer);
      sidecar.child.stderr!.off('data', onData);
      resolve(found);
    };
    const onData = () => setImmediate(check);
    sidecar.child.stderr!.on('data', onData);
    check();
  });
}

async function call(sidecar: SidecarProcess): Promise<{ status: number; body: string }> {
  const res = await request(`http://${sidecar.outbound}/reviews/1`, { headers: { host: 'reviews' } });
  return { status: res.statusCode, body: await res.body.text() };
}

test('the sidecar takes its whole config from a ConfigMap and its endpoints from EndpointSlices; changes apply hot, a bad one keeps the last good config', async () => {
  putConfig(mesh());
  const sidecar = await startSidecarProcess('', [], { config: 'k8s:configmap/default/mesh-config', env: { KUBECONFIG: kubeconfig } });
  try {
    const first = await call(sidecar);
    assert.equal(first.status, 200);
    assert.ok(pods.some((p) => p.ip === first.body));
    const config = (await (await request(`http://${sidecar.admin}/config`)).body.json()) as { configFile: string; services: Record<string, { discovery: string }> };
    assert.equal(config.configFile, 'k8s:configmap/default/mesh-config');
    assert.equal(config.services.reviews?.discovery, 'k8s:reviews.default:http');

    let reloaded = logged(sidecar, (e) => e.msg === 'config reloaded', 'a reload');
    putConfig(mesh('      faults: [{ abort: { percent: 100, httpStatus: 418 } }]'));
    await reloaded;
    assert.equal((await call(sidecar)).status, 418);

    const rejected = logged(sidecar, (e) => e.msg === 'config change is invalid; keeping the last good config', 'the bad change');
    putConfig(mesh('      timeout: soon'));
    const error = await rejected;
    assert.match(String(error.error), /configmap default\/mesh-config#mesh\.yaml:8:\d+: Mesh service "reviews" spec\.services\.reviews\.timeout: expected a duration/);
    assert.equal((await call(sidecar)).status, 418, 'the last good config keeps running');
    const shown = (await (await request(`http://${sidecar.admin}/config`)).body.json()) as { configError: string | null };
    assert.match(shown.configError ?? '', /configmap default\/mesh-config#mesh\.yaml/);

    reloaded = logged(sidecar, (e) => e.msg === 'config reloaded', 'the fixed config');
    putConfig(mesh());
    await reloaded;
    assert.equal((await call(sidecar)).status, 200);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('with the API server down the sidecar stays ready, traffic flows to the last endpoints, and /metrics shows the outage', async () => {
  putConfig(mesh());
  const sidecar = await startSidecarProcess('', [], { config: 'k8s:configmap/default/mesh-config', env: { KUBECONFIG: kubeconfig } });
  try {
    assert.equal((await call(sidecar)).status, 200);
    const failing = logged(sidecar, (e) => e.msg === 'discovery failed; keeping the last known endpoints', 'a discovery failure');
    await api.stop();
    await failing;
    for (let i = 0; i < 20; i++) assert.equal((await call(sidecar)).status, 200);
    assert.equal((await request(`http://${sidecar.admin}/ready`)).statusCode, 200);
    assert.ok(metricValue(await sidecar.metrics(), 'meshwork_discovery_errors_total', { authority: 'reviews' }) >= 1);
  } finally {
    await api.start();
    assert.equal(await sidecar.stop(), 0);
  }
});

function runSidecar(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SIDECAR_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.once('exit', (status) => resolve({ status, stderr }));
  });
}

test('a missing ConfigMap or key, or a malformed reference, stops start-up with exit 2 and the reason', async () => {
  const env = { KUBECONFIG: kubeconfig };
  const missing = await runSidecar(['--config', 'k8s:configmap/default/nope', '--outbound', '127.0.0.1:0', '--admin', 'none'], env);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /configmap default\/nope#mesh\.yaml: the ConfigMap default\/nope does not exist/);
  putConfig(mesh());
  const noKey = await runSidecar(['--config', 'k8s:configmap/default/mesh-config#other.yaml', '--outbound', '127.0.0.1:0', '--admin', 'none'], env);
  assert.equal(noKey.status, 2);
  assert.match(noKey.stderr, /the ConfigMap has no key "other\.yaml"; its keys: mesh\.yaml/);
  const malformed = await runSidecar(['--config', 'k8s:configmaps/default'], env);
  assert.equal(malformed.status, 2);
  assert.match(malformed.stderr, /--config: "k8s:configmaps\/default" is not a ConfigMap reference; expected k8s:configmap\/<namespace>\/<name>#<key>/);
  const noCredentials = await runSidecar(['--config', 'k8s:configmap/default/mesh-config', '--outbound', '127.0.0.1:0', '--admin', 'none'], { KUBECONFIG: '/nonexistent/kubeconfig' });
  assert.equal(noCredentials.status, 2);
  assert.match(noCredentials.stderr, /kubeconfig: cannot read \/nonexistent\/kubeconfig \(ENOENT\)/);
});

/**
 * The sidecar runs the same stack as the library: retries with a budget, a traffic split and
 * injected faults observed end to end with curl, and /metrics checked against what was sent.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue, startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);

let stable: TestBackend;
let canary: TestBackend;
let flaky: TestBackend;
let sidecar: SidecarProcess;

before(async () => {
  stable = await startBackend('stable');
  canary = await startBackend('canary');
  flaky = await startBackend('flaky');
  sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    web:
      endpoints: ["${stable.address}"]
      retries: false
      split:
        - { service: web, weight: 90 }
        - { service: web-canary, weight: 10 }
    web-canary:
      endpoints: ["${canary.address}"]
    flaky:
      endpoints: ["${flaky.address}"]
      retries:
        maxAttempts: 3
        backoff: { base: 1ms, max: 5ms }
    faulty:
      endpoints: ["${stable.address}"]
      faults:
        - abort: { percent: 100, httpStatus: 418 }
`);
});

after(async () => {
  await sidecar?.stop();
  await Promise.all([stable?.stop(), canary?.stop(), flaky?.stop()]);
});

/** Sends `count` requests with curl (one process, one connection) and returns their status codes. */
async function curlMany(host: string, count: number): Promise<number[]> {
  // Each URL needs its own -o, or curl prints the later bodies.
  const urls = Array.from({ length: count }, (_, i) => ['-o', '/dev/null', `http://${sidecar.outbound}/r${i}`]).flat();
  const { stdout } = await run('curl', ['-sS', '-w', '%{http_code}\\n', '-H', `Host: ${host}`, ...urls], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return stdout.trim().split('\n').map(Number);
}

test('a 90/10 split sends about a tenth of the traffic to the canary, and every request is counted once', async () => {
  stable.hits = 0;
  canary.hits = 0;
  const statuses = await curlMany('web', 400);
  assert.deepEqual(statuses.filter((s) => s !== 200), []);
  assert.equal(stable.hits + canary.hits, 400);
  // 10% of 400 is 40; the bounds are ±4.5 standard deviations of a binomial(400, 0.1).
  assert.ok(canary.hits >= 13 && canary.hits <= 67, `canary got ${canary.hits} of 400`);
  const metrics = await sidecar.metrics();
  assert.equal(metricValue(metrics, 'request_total', { direction: 'outbound', authority: 'web' }), 400);
  assert.equal(metricValue(metrics, 'response_total', { direction: 'outbound', authority: 'web', status_code: '200', classification: 'success' }), 400);
  assert.equal(metricValue(metrics, 'response_latency_ms_count', { direction: 'outbound', authority: 'web' }), 400);
});

test('failed attempts are retried: the caller sees 200 and /metrics counts the retries', async () => {
  flaky.hits = 0;
  flaky.behaviour = { script: [503, 503] };
  const [status] = await curlMany('flaky', 1);
  assert.equal(status, 200);
  assert.equal(flaky.hits, 3);
  const metrics = await sidecar.metrics();
  assert.equal(metricValue(metrics, 'meshwork_retries_total', { authority: 'flaky' }), 2);
  assert.equal(metricValue(metrics, 'request_total', { authority: 'flaky' }), 1);
  assert.equal(metricValue(metrics, 'response_total', { authority: 'flaky', classification: 'success' }), 1);
});

test('when every attempt fails the caller gets the last failure, classified as a failure', async () => {
  flaky.behaviour = { status: 500 };
  try {
    const [status] = await curlMany('flaky', 1);
    assert.equal(status, 500);
    const metrics = await sidecar.metrics();
    assert.equal(metricValue(metrics, 'response_total', { authority: 'flaky', status_code: '500', classification: 'failure' }), 1);
  } finally {
    flaky.behaviour = {};
  }
});

test('an injected abort answers without touching the service and is counted', async () => {
  const before = stable.hits;
  const statuses = await curlMany('faulty', 5);
  assert.deepEqual(statuses, [418, 418, 418, 418, 418]);
  assert.equal(stable.hits, before);
  const metrics = await sidecar.metrics();
  assert.equal(metricValue(metrics, 'meshwork_faults_aborted_total', { authority: 'faulty' }), 5);
});

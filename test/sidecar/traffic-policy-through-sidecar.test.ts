/**
 * Mirroring, hedging's configuration and the adaptive limit through the real mesh-sidecar binary,
 * driven by curl: the mirror's server sees the copy with `-shadow` in its Host, the caller only the
 * service's answer, and /metrics shows the copies and the current adaptive limit.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startHoldingBackend, type HoldingBackend } from '../helpers/holding-backend.js';
import { metricValue, startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);

let primary: HoldingBackend;
let shadow: HoldingBackend;
let sidecar: SidecarProcess;

before(async () => {
  primary = await startHoldingBackend('primary');
  shadow = await startHoldingBackend('shadow', () => 'hold');
  sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    reviews:
      endpoints: ["${primary.address}"]
      routes:
        - { name: reads, condition: { method: GET }, isIdempotent: true }
      hedging: { percentile: 95 }
      mirror: { service: reviews-next, timeout: 5s }
      limits: { adaptive: { initialLimit: 30, minLimit: 5 } }
    reviews-next:
      endpoints: ["${shadow.address}"]
`);
});

after(async () => {
  await sidecar?.stop();
  await Promise.all([primary?.stop(), shadow?.stop()]);
});

test('curl through the sidecar: the copy reaches the mirror as reviews-shadow with the body, the caller gets the service answer at once', async () => {
  const { stdout } = await run('curl', ['-sS', '-H', 'Host: reviews:9080', '--data-binary', 'stars=5', `http://${sidecar.outbound}/reviews/1`], { encoding: 'utf8' });
  assert.equal(stdout, 'primary 200', 'answered while the mirror still holds its copy');
  const copy = await shadow.requests.next('the copy at the mirror');
  assert.equal(copy.headers.host, 'reviews-shadow:9080');
  assert.equal(copy.method, 'POST');
  assert.equal(copy.url, '/reviews/1');
  assert.equal(copy.body.toString(), 'stars=5');
  assert.equal((await primary.requests.next()).headers.host, 'reviews:9080');
  copy.release();

  const metrics = await sidecar.metrics();
  assert.equal(metricValue(metrics, 'meshwork_mirrors_total', { authority: 'reviews' }), 1);
  assert.equal(metricValue(metrics, 'meshwork_concurrency_limit', { authority: 'reviews' }), 30);
});

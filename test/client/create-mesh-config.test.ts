import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createMesh, isMeshError } from '../../src/index.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';

let blue: TestBackend;
let green: TestBackend;
let dir: string;
before(async () => {
  blue = await startBackend('blue');
  green = await startBackend('green');
  dir = await mkdtemp(join(tmpdir(), 'meshwork-config-'));
});
after(async () => {
  await Promise.all([blue?.stop(), green?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const meshYaml = (address: string, extra = '') => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata:
  name: test
spec:
  services:
    reviews:
      endpoints: ["${address}"]
      timeout: 2s${extra}
`;

async function eventually(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function servedBy(mesh: ReturnType<typeof createMesh>): Promise<string> {
  const res = await mesh.client('reviews').request({ path: '/' });
  await res.body.dump();
  return String(res.headers['x-backend']);
}

test('a config file builds the services, and a ServiceProfile in it attaches by name', async () => {
  const file = join(dir, 'profile.yaml');
  await writeFile(
    file,
    meshYaml(blue.address) +
      `---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: reviews.default.svc.cluster.local
  namespace: default
spec:
  routes:
  - name: GET /reviews/{id}
    condition:
      method: GET
      pathRegex: /reviews/[^/]*
    isRetryable: true
    timeout: 300ms
`,
  );
  const mesh = createMesh({ config: file, watch: false });
  try {
    assert.deepEqual(mesh.services(), ['reviews']);
    const settings = mesh.client('reviews').settings;
    assert.equal(settings.policy.routes?.[0]?.name, 'GET /reviews/{id}');
    assert.equal(settings.policy.routes?.[0]?.timeoutMs, 300);
    assert.equal(settings.policy.timeouts?.totalMs, 2000);
    assert.equal(await servedBy(mesh), 'blue');
  } finally {
    await mesh.close();
  }
});

test('hot reload: a good change swaps in without dropping in-flight requests; a bad one keeps the last good config', async () => {
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, meshYaml(blue.address));
  const mesh = createMesh({ config: file });
  const reviews = mesh.client('reviews');
  try {
    assert.equal(await servedBy(mesh), 'blue');
    blue.behaviour = { delayMs: 400 };
    const inFlight = reviews.request({ path: '/slow' });
    await new Promise((r) => setTimeout(r, 50));

    await writeFile(file, meshYaml(green.address));
    await eventually('the reload', () => mesh.configGeneration === 2);
    const slow = await inFlight;
    assert.equal(slow.statusCode, 200, 'the request in flight during the swap completed');
    assert.equal(slow.headers['x-backend'], 'blue');
    await slow.body.dump();
    assert.equal(await servedBy(mesh), 'green');
    assert.equal((await (await reviews.request({ path: '/' })).body.json() as { path: string }).path, '/', 'handles taken before the reload follow it');

    await writeFile(file, meshYaml(blue.address, '\n      balancer: fastest'));
    await eventually('the error', () => mesh.configError !== undefined);
    assert.match(mesh.configError!.message, /mesh\.yaml:\d+:\d+: .*balancer/);
    assert.equal(mesh.configGeneration, 2);
    assert.equal(await servedBy(mesh), 'green', 'the last good config keeps running');

    await writeFile(file, meshYaml(blue.address));
    await eventually('the fix', () => mesh.configGeneration === 3);
    assert.equal(mesh.configError, undefined);
    blue.behaviour = {};
    assert.equal(await servedBy(mesh), 'blue');
  } finally {
    blue.behaviour = {};
    await mesh.close();
  }
});

test('a bad config file at start is an INVALID_CONFIG error naming file and line', async () => {
  const file = join(dir, 'bad.yaml');
  await writeFile(file, meshYaml(blue.address, '\n      retries: { budget: { retryRatio: -1 } }'));
  assert.throws(() => createMesh({ config: file }), (err: unknown) => isMeshError(err, 'INVALID_CONFIG') && /bad\.yaml:\d+:\d+: .*retryRatio/.test(err.message));
});

test('ServiceProfile dstOverrides authorities resolve to the mesh services they name', async () => {
  const file = join(dir, 'canary.yaml');
  await writeFile(
    file,
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    reviews: { endpoints: ["${blue.address}"] }
    reviews-canary: { endpoints: ["${green.address}"] }
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: reviews.default.svc.cluster.local }
spec:
  dstOverrides:
  - { authority: reviews.default.svc.cluster.local:9080, weight: "0" }
  - { authority: reviews-canary.default.svc.cluster.local:9080, weight: 1000m }
`,
  );
  const mesh = createMesh({ config: file, watch: false });
  try {
    for (let i = 0; i < 5; i++) assert.equal(await servedBy(mesh), 'green');
  } finally {
    await mesh.close();
  }
});

/**
 * Istio's bookinfo traffic-management shapes (test/fixtures/istio/bookinfo), loaded as they are
 * next to a Mesh document and run against real servers: one node:http server per version of
 * reviews and ratings, discovered from files whose entries carry the version labels that
 * destination-rule-all's subsets select by.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createMesh, type Mesh } from '../../src/client/create-mesh.js';
import { ManualClock, seededRandom } from '../../src/core/clock.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';

const FIXTURES = 'test/fixtures/istio/bookinfo';
const VERSIONS: Record<string, string[]> = { productpage: ['v1'], reviews: ['v1', 'v2', 'v3'], ratings: ['v1', 'v2'], details: ['v1', 'v2'] };

let dir: string;
const backends = new Map<string, TestBackend>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshwork-bookinfo-'));
  for (const [service, versions] of Object.entries(VERSIONS)) {
    const endpoints = [];
    for (const version of versions) {
      const backend = await startBackend(`${service}-${version}`);
      backends.set(backend.name, backend);
      endpoints.push({ host: '127.0.0.1', port: backend.port, labels: { app: service, version } });
    }
    await writeFile(join(dir, `${service}-endpoints.json`), JSON.stringify({ endpoints }));
  }
});

after(async () => {
  await Promise.all([...backends.values()].map((b) => b.stop()));
  await rm(dir, { recursive: true, force: true });
});

/** mesh.yaml, destination-rule-all.yaml and the given VirtualService as one multi-document file, as kubectl would hold them. */
async function bookinfoConfig(virtualService: string): Promise<string> {
  const parts = await Promise.all(['mesh.yaml', 'destination-rule-all.yaml', virtualService].map((f) => readFile(join(FIXTURES, f), 'utf8')));
  const file = join(dir, virtualService.replace('virtual-service-', 'bookinfo-'));
  await writeFile(file, parts.join('---\n'));
  return file;
}

function resetHits(): void {
  for (const b of backends.values()) b.hits = 0;
}

async function servedBy(mesh: Mesh, service: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await mesh.client(service).request({ method: 'GET', path: `/${service}/0`, headers });
  await res.body.dump();
  assert.equal(res.statusCode, 200);
  return String(res.headers['x-backend']);
}

test('reviews v1/v2/v3 by weight: each subset gets its weight\'s share, and only its own endpoints', async () => {
  const mesh = createMesh({ config: await bookinfoConfig('virtual-service-reviews-v1-v2-v3.yaml'), random: seededRandom(15) });
  try {
    const counts: Record<string, number> = {};
    const n = 600;
    for (let i = 0; i < n; i++) {
      const backend = await servedBy(mesh, 'reviews');
      counts[backend] = (counts[backend] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(counts).sort(), ['reviews-v1', 'reviews-v2', 'reviews-v3']);
    // Weights 50/30/20; a binomial's standard deviation at n = 600 is under 21 requests, so 45 is beyond 2σ.
    for (const [version, weight] of [['reviews-v1', 50], ['reviews-v2', 30], ['reviews-v3', 20]] as const) {
      assert.ok(Math.abs(counts[version]! - (n * weight) / 100) < 45, `${version}: ${counts[version]} of ${n}, expected about ${(n * weight) / 100}`);
    }
  } finally {
    await mesh.close();
  }
});

test('end-user: jason goes to reviews v2, everybody else to v1 (the first matching route wins)', async () => {
  const mesh = createMesh({ config: await bookinfoConfig('virtual-service-reviews-test-v2.yaml') });
  try {
    resetHits();
    for (let i = 0; i < 20; i++) {
      assert.equal(await servedBy(mesh, 'reviews', { 'end-user': 'jason' }), 'reviews-v2');
      assert.equal(await servedBy(mesh, 'reviews', { 'end-user': 'json' }), 'reviews-v1');
      assert.equal(await servedBy(mesh, 'reviews'), 'reviews-v1');
    }
    assert.equal(backends.get('reviews-v3')!.hits, 0);
  } finally {
    await mesh.close();
  }
});

test('ratings delay for jason: 7 s on the mesh clock before ratings v1 is called; others at once', async () => {
  const clock = new ManualClock();
  const mesh = createMesh({ config: await bookinfoConfig('virtual-service-ratings-test-delay.yaml'), clock });
  try {
    // File discovery reads on a timer of the mesh clock: let its zero-delay timers fire until the first request is through.
    let first: string | undefined;
    const warmUp = servedBy(mesh, 'ratings').then((backend) => (first = backend));
    while (first === undefined) {
      clock.advance(0);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(await warmUp, 'ratings-v1');
    resetHits();
    let answered: string | undefined;
    const jason = servedBy(mesh, 'ratings', { 'end-user': 'jason' }).then((backend) => (answered = backend));
    // Another user is not held up behind jason's delayed request.
    assert.equal(await servedBy(mesh, 'ratings', { 'end-user': 'alice' }), 'ratings-v1');
    clock.advance(6_999);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(answered, undefined, 'still delayed 1 ms before the 7 s');
    assert.equal(backends.get('ratings-v1')!.hits, 1, 'only alice reached ratings so far');
    clock.advance(1);
    assert.equal(await jason, 'ratings-v1');
    assert.equal(backends.get('ratings-v1')!.hits, 2);
    assert.equal(backends.get('ratings-v2')!.hits, 0);
  } finally {
    await mesh.close();
  }
});

test('ratings abort for jason: 500 from the mesh, never sent nor retried; others reach ratings v1', async () => {
  const mesh = createMesh({ config: await bookinfoConfig('virtual-service-ratings-test-abort.yaml') });
  try {
    resetHits();
    for (let i = 0; i < 10; i++) {
      const res = await mesh.client('ratings').request({ path: '/ratings/0', headers: { 'end-user': 'jason' } });
      await res.body.dump();
      assert.equal(res.statusCode, 500);
    }
    assert.equal(backends.get('ratings-v1')!.hits + backends.get('ratings-v2')!.hits, 0, 'no aborted request reached ratings');
    assert.equal(await servedBy(mesh, 'ratings', { 'end-user': 'bob' }), 'ratings-v1');
    assert.equal(mesh.client('ratings').counters().faults_aborted_total, 10);
  } finally {
    await mesh.close();
  }
});

test('a changed VirtualService is applied on reload: jason moves from reviews v2 to v3 without a restart', async () => {
  const file = await bookinfoConfig('virtual-service-reviews-test-v2.yaml');
  const mesh = createMesh({ config: file });
  try {
    assert.equal(await servedBy(mesh, 'reviews', { 'end-user': 'jason' }), 'reviews-v2');
    const text = await readFile(file, 'utf8');
    const changed = text.replace(/(exact: jason\n\s+route:\n\s+- destination:\n\s+host: reviews\n\s+subset: )v2/, '$1v3');
    assert.notEqual(changed, text);
    await writeFile(`${file}.tmp`, changed);
    await rename(`${file}.tmp`, file);
    const deadline = Date.now() + 10_000;
    while (mesh.configGeneration === 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.equal(mesh.configGeneration, 2, String(mesh.configError ?? 'no reload'));
    assert.equal(await servedBy(mesh, 'reviews', { 'end-user': 'jason' }), 'reviews-v3');
    assert.equal(await servedBy(mesh, 'reviews'), 'reviews-v1');
  } finally {
    await mesh.close();
  }
});

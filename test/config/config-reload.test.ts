/**
 * A config file that turns empty, comments-only or half-written while the mesh runs is a bad change
 * like any other: the last good config keeps serving (held clients and the dispatcher alike), the
 * error is reported, and the rejection is counted on the mesh's registry. The same file at start-up is
 * refused, by createMesh and by mesh-sidecar.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetch } from 'undici';
import { createMesh, isMeshError, MeshMetrics, type Logger } from '../../src/index.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue, runSidecarCli } from '../helpers/sidecar-process.js';

let backend: TestBackend;
let dir: string;
before(async () => {
  backend = await startBackend('reviews-v1');
  dir = await mkdtemp(join(tmpdir(), 'meshwork-reload-'));
});
after(async () => {
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
});

const meshYaml = (timeout: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
spec:
  services:
    reviews:
      endpoints: ["${backend.address}"]
      timeout: ${timeout}
`;

/** Replaces the file in one step, as a ConfigMap update does, so the watcher never sees a partial write. */
async function replaceFile(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

async function eventually(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function recordingLogger(): Logger & { errors: { message: string; fields: Record<string, unknown> }[] } {
  const errors: { message: string; fields: Record<string, unknown> }[] = [];
  const ignore = () => {};
  return { debug: ignore, info: ignore, warn: ignore, error: (message, fields = {}) => errors.push({ message, fields }), errors };
}

test('an empty, comments-only, whitespace-only or half-written file during hot reload keeps the last good config', async () => {
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, meshYaml('2s'));
  const logger = recordingLogger();
  const mesh = createMesh({ config: file, logger });
  const held = mesh.client('reviews');
  const failures = async (reason?: string) => metricValue(await mesh.registry.metrics(), 'meshwork_config_reload_failures_total', reason ? { reason } : {});
  try {
    const good = meshYaml('2s');
    const badFiles: [string, string, RegExp][] = [
      ['empty', '', /mesh\.yaml: the file is empty/],
      ['comments only', '# mesh config for shop\n# services: see below\n', /mesh\.yaml: the file is empty/],
      ['whitespace only', '\n   \n\t\n', /mesh\.yaml: the file is empty/],
      ['document separators only', '---\n# rendered empty\n---\n', /mesh\.yaml: the file is empty/],
      ['half-written', good.slice(0, good.indexOf('    reviews:')), /mesh\.yaml:\d+:\d+: Mesh "shop" spec\.services: expected an object, got null/],
    ];
    for (const [i, [what, text, reported]] of badFiles.entries()) {
      await replaceFile(file, text);
      await eventually(`the ${what} file to be noticed`, async () => (await failures()) === i + 1 || mesh.configGeneration !== 1);
      assert.equal(mesh.configGeneration, 1, `${what}: not applied`);
      assert.match(mesh.configError?.message ?? '', reported, what);
      assert.deepEqual(mesh.services(), ['reviews'], what);
      assert.equal(logger.errors.length, i + 1, `${what}: logged`);
      assert.match(logger.errors[i]!.message, /keeping the last good config/);
      assert.equal(logger.errors[i]!.fields.file, file);

      const res = await held.request({ path: `/held/${i}` });
      assert.equal(res.statusCode, 200, `${what}: a client taken before the change still works`);
      await res.body.dump();
      const viaDispatcher = await fetch(`http://reviews/dispatched/${i}`, { dispatcher: mesh.dispatcher });
      assert.equal(viaDispatcher.headers.get('x-backend'), 'reviews-v1', `${what}: fetch to the service is still meshed`);
      await viaDispatcher.arrayBuffer();
    }
    assert.equal(await failures('empty'), 4);
    assert.equal(await failures('invalid'), 1);

    await replaceFile(file, meshYaml('3s'));
    await eventually('the good change', () => mesh.configGeneration === 2);
    assert.equal(mesh.configError, undefined);
    assert.equal(held.settings.policy.timeouts?.totalMs, 3000);
    assert.equal(metricValue(await mesh.registry.metrics(), 'meshwork_config_reloads_total'), 1);
    assert.equal(await failures(), 5, 'failures are not reset by a good reload');
  } finally {
    await mesh.close();
  }
});

test('a file that goes missing is reported once, and the same good content coming back clears the error', async () => {
  const file = join(dir, 'vanishing.yaml');
  await writeFile(file, meshYaml('2s'));
  const mesh = createMesh({ config: file, logger: recordingLogger() });
  try {
    await rm(file);
    await eventually('the missing file', () => mesh.configError !== undefined);
    assert.match(mesh.configError!.message, /vanishing\.yaml: cannot read the config file \(ENOENT\); keeping the last good config/);
    assert.equal(metricValue(await mesh.registry.metrics(), 'meshwork_config_reload_failures_total', { reason: 'unreadable' }), 1);
    await replaceFile(file, meshYaml('2s'));
    await eventually('the file back', () => mesh.configError === undefined);
    assert.equal(metricValue(await mesh.registry.metrics(), 'meshwork_config_reload_failures_total', { reason: 'unreadable' }), 1, 'reported once, not on every poll');
    const res = await mesh.client('reviews').request({ path: '/' });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  } finally {
    await mesh.close();
  }
});

test('meshes that share a registry count their reloads in the same series', async () => {
  const metrics = new MeshMetrics();
  const first = join(dir, 'first.yaml');
  const second = join(dir, 'second.yaml');
  await Promise.all([writeFile(first, meshYaml('2s')), writeFile(second, meshYaml('2s'))]);
  const meshes = [createMesh({ config: first, metrics }), createMesh({ config: second, metrics })];
  try {
    await Promise.all([replaceFile(first, ''), replaceFile(second, '')]);
    await eventually('both rejections', async () => metricValue(await metrics.registry.metrics(), 'meshwork_config_reload_failures_total', { reason: 'empty' }) === 2);
  } finally {
    await Promise.all(meshes.map((m) => m.close()));
  }
});

test('an empty config file at start-up is refused by createMesh and by mesh-sidecar (exit 2, file and reason)', async () => {
  const file = join(dir, 'empty.yaml');
  for (const text of ['', '# nothing yet\n']) {
    await writeFile(file, text);
    assert.throws(() => createMesh({ config: file }), (err: unknown) => isMeshError(err, 'INVALID_CONFIG') && err.message.includes(`${file}: the file is empty`));
    const cli = runSidecarCli(['--config', file, '--outbound', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    assert.equal(cli.status, 2, cli.stderr);
    assert.equal(cli.stderr, `mesh-sidecar: ${file}: the file is empty (no YAML document, only whitespace, comments or ---); a config needs a kind: Mesh document\n`);
  }
});

test('a change written the moment createMesh returns is applied: the watcher compares with what the mesh loaded, not with a later read', async () => {
  const file = join(dir, 'right-away.yaml');
  await writeFile(file, meshYaml('2s'));
  const mesh = createMesh({ config: file });
  try {
    // Synchronously, before any read the watcher might start for a baseline can finish.
    writeFileSync(file, meshYaml('4s'));
    await eventually('the change written right away', () => mesh.configGeneration === 2);
    assert.equal(mesh.client('reviews').settings.policy.timeouts?.totalMs, 4000);
  } finally {
    await mesh.close();
  }
});

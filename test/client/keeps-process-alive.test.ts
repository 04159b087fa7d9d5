/**
 * A script whose only work is `await client.request(...)` must not exit while that request waits
 * on a timer of the mesh's (a retry's backoff, the first discovery): Node would end the process
 * with the promise unsettled (exit 13) instead of giving the caller its answer or its error.
 * Background timers (polls, expiry checks) must still never hold a process open on their own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { freePort } from '../helpers/free-port.js';
import { REPO, ensureBuilt } from '../helpers/sidecar-process.js';

function runScript(source: string): { status: number | null; stdout: string; stderr: string } {
  ensureBuilt();
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd: REPO, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('a request waiting in a retry backoff keeps the process alive until it settles', async () => {
  const port = await freePort();
  const result = runScript(`
    import { meshClient } from 'meshwork';
    const client = meshClient('gone', { endpoints: ['127.0.0.1:${port}'], retries: { backoff: { base: 300, max: 300 } } });
    try {
      await client.request({ path: '/' });
      console.log('answered');
    } catch (err) {
      console.log('settled with', err.code, client.counters().retries_total);
    }
    await client.close();
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^settled with CONNECT_FAILED [1-9]/);
});

test('a request waiting for its first endpoints keeps the process alive until discovery times out', async () => {
  const result = runScript(`
    import { meshClient } from 'meshwork';
    const client = meshClient('nowhere', { discovery: 'file:./does-not-exist.json', discoveryTimeout: '400ms' });
    try { await client.request({ path: '/' }); } catch (err) { console.log('settled with', err.code); }
    await client.close();
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^settled with DISCOVERY_TIMEOUT/);
});

test('an idle client does not keep the process alive', () => {
  const result = runScript(`
    import { meshClient } from 'meshwork';
    meshClient('idle', { discovery: 'file:./does-not-exist.json' });
    console.log('done');
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'done');
});

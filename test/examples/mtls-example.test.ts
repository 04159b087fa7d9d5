/** examples/mtls/run.mjs does what its README says: the real binary, real mTLS, three answers. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureBuilt, REPO } from '../helpers/sidecar-process.js';

test('the mTLS example: web is let in over mTLS, a route it may not call is 403, plaintext is refused', async () => {
  ensureBuilt();
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/mtls/run.mjs'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.match(stdout, /web: GET \/hello \(via its sidecar\)\s+→ 200\s+api says hello to spiffe:\/\/demo\.local\/ns\/default\/sa\/web/);
  assert.match(stdout, /web: POST \/hello \(not allowed\)\s+→ 403 FORBIDDEN/);
  assert.match(stdout, /outsider: plaintext straight to api's sidecar\s+→ 403 TLS_REQUIRED/);
});

/** examples/gateway/run.mjs does what its README says: the real binary, curl over TLS, the answers listed there. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureBuilt, REPO } from '../helpers/sidecar-process.js';

test('the gateway example: SNI certificates, the redirect, routing by host and path, a retry, 404s and 421', async () => {
  ensureBuilt();
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/gateway/run.mjs'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.match(stdout, /GET https:\/\/shop\.example\.test\/checkout\s+→ 200 shop served GET \/checkout for shop\.example\.test \(https, from 127\.0\.0\.1\)/);
  assert.match(stdout, /GET https:\/\/v2\.api\.example\.test\/v2\/items \(retried\)\s+→ 200 api served GET \/v2\/items\?page=1/);
  assert.match(stdout, /GET http:\/\/shop\.example\.test\/pages\/about\s+→ 308 Location: https:\/\/shop\.example\.test:\d+\/pages\/about\?lang=en/);
  assert.match(stdout, /curl -L \(follows the redirect\)\s+→ 200 shop served GET \/pages\/about\?lang=en for shop\.example\.test \(https/);
  assert.match(stdout, /\(no route\)\s+→ 404 NO_ROUTE/);
  assert.match(stdout, /\(unknown host\)\s+→ 404 UNKNOWN_HOST/);
  assert.match(stdout, /SNI shop\.example\.test, Host api\.example\.test\s+→ 421 MISDIRECTED_REQUEST/);
  assert.match(stdout, /retries of api = 1;/);
});

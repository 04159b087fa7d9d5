/** examples/grpc/run.mjs does what its README says, against real grpc-js servers. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureBuilt, REPO } from '../helpers/sidecar-process.js';

test('the gRPC example: every call succeeds, the slow server gets a small share, retries are counted', async () => {
  ensureBuilt();
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/grpc/run.mjs'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.match(stdout, /failed after retries: 0/);
  const slow = Number(/greeter-slow\s+answered\s+(\d+)/.exec(stdout)?.[1]);
  assert.ok(slow < 60, `the slow server answered ${slow} of 300`);
  assert.match(stdout, /grpc_status="0",classification="success"\} 300/);
  assert.match(stdout, /meshwork_retries_total\{authority="greeter"\} [1-9]/);
});

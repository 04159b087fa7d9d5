/**
 * Runs scripts/run-tests.mjs (what `npm test` runs once its checks pass) as a child process, to its
 * end, for the tests of the test command itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './sidecar-process.js';

export interface TestRunnerResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runTestRunner(args: string[], env: Record<string, string> = {}): TestRunnerResult {
  // Without the variable by which Node tells a test file to report to its runner, the child runs as
  // `npm test` would, not as a file of this run.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  // This bound only keeps a test from hanging if the runner does; the runs use smaller bounds of their own.
  const result = spawnSync(process.execPath, [join(REPO, 'scripts/run-tests.mjs'), ...args], { cwd: REPO, encoding: 'utf8', timeout: 90_000, env: { ...inherited, ...env } });
  assert.equal(result.error, undefined, 'the runner did not end by itself');
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * scripts/run-tests.mjs, what `npm test` runs after its checks, run as a child process on fixtures
 * that never end (test/fixtures: outside the test glob, named explicitly): a test file that runs
 * past --test-timeout is stopped and the runner says where it was stuck, the watchdog stops a whole
 * run that takes too long, and neither leaves a process that the tests started behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stillRunningAfter } from '../helpers/process-state.js';
import { runTestRunner } from '../helpers/test-runner-process.js';

const root = mkdtempSync(join(tmpdir(), 'meshwork-runner-'));
after(() => rmSync(root, { recursive: true, force: true }));

let runs = 0;

/** Runs the runner to its end; the fixtures write the ids of the processes they start to a file. */
function runTests(args: string[]) {
  const pidsFile = join(root, `pids-${++runs}`);
  const result = runTestRunner(args, { FIXTURE_PIDS_FILE: pidsFile });
  const pids = existsSync(pidsFile) ? readFileSync(pidsFile, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  return { ...result, pids };
}

test('a test that never settles is stopped at --test-timeout, and the runner says which test it was', async () => {
  const run = runTests(['--test-timeout=2000', 'test/fixtures/hanging-test.ts']);
  assert.equal(run.status, 1);
  assert.match(run.stdout, /test timed out after 2000ms/);
  assert.match(
    run.stderr,
    /run-tests: test\/fixtures\/hanging-test\.ts was stopped after 2 s \(--test-timeout bounds each test file\): it was still in 'never settles' \(test\/fixtures\/hanging-test\.ts:\d+\)/,
  );
  assert.equal(run.pids.length, 2, 'the fixture ran and recorded its process and its child');
  assert.deepEqual(await stillRunningAfter(run.pids), [], 'the test process and the child it started are gone');
});

test('a file whose tests passed but whose process a server keeps alive is stopped too, and told apart', () => {
  const run = runTests(['--test-timeout=2000', 'test/fixtures/server-left-open.ts']);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /test\/fixtures\/server-left-open\.ts was stopped after 2 s .*: every test in it had finished, but .*kept its process alive/);
});

test('the watchdog stops a run that takes too long, names the files still running, and leaves no process behind', async () => {
  const run = runTests(['--test-timeout=60000', '--watchdog=2000', 'test/fixtures/hanging-test.ts']);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /run-tests: the run took longer than 2 s \(--watchdog\) and was stopped\. Still running:\n {2}test\/fixtures\/hanging-test\.ts \(running for [\d.]+ s\)\n/);
  assert.equal(run.pids.length, 2);
  assert.deepEqual(await stillRunningAfter(run.pids), []);
});

test('a bound that is not a whole number of milliseconds is refused, quoting it', () => {
  const run = runTests(['--test-timeout=soon']);
  assert.equal(run.status, 1);
  assert.equal(run.stderr.trim(), 'run-tests: --test-timeout expects a whole number of milliseconds, got "soon"');
});

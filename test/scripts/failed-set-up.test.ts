/**
 * A suite whose set-up fails must end at once with the reason, closing what it had started, rather
 * than hang until something stops it: the DNS suites on a machine without dnsmasq, and a dnsmasq
 * that never answers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { stillRunningAfter } from '../helpers/process-state.js';
import { runTestRunner } from '../helpers/test-runner-process.js';

const root = mkdtempSync(join(tmpdir(), 'meshwork-set-up-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('the DNS suites on a machine without dnsmasq fail at once, saying how to install it, and their processes end', () => {
  // A PATH with nothing on it: the suites need no other program, and dnsmasq is not found.
  const run = runTestRunner(['--test-timeout=30000', 'test/client/dns-discovery.test.ts', 'test/discovery/dns-resolver.test.ts'], { PATH: root });
  assert.equal(run.status, 1);
  assert.match(run.stdout, /dnsmasq is not installed: install the Debian package dnsmasq-base/);
  assert.doesNotMatch(run.stdout, /Cannot read properties of undefined/, 'the after hooks cope with a before hook that failed');
  assert.doesNotMatch(run.stderr, /was stopped after/, 'no file had to be stopped at its timeout');
});

test('a dnsmasq that never answers is killed when its start fails', async () => {
  const pidFile = join(root, 'dnsmasq.pid');
  writeFileSync(join(root, 'dnsmasq'), `#!${process.execPath}\nrequire('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nsetInterval(() => {}, 60_000);\n`, { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = root;
  try {
    await assert.rejects(startDnsmasq(join(root, 'hosts'), [], []), /dnsmasq did not answer on port \d+/);
  } finally {
    process.env.PATH = path;
  }
  assert.deepEqual(await stillRunningAfter([Number(readFileSync(pidFile, 'utf8'))]), []);
});

/**
 * scripts/ensure-test-peers.ts, the first step of `npm test`, run as a child process whose whole PATH
 * is a directory made for the case: links to the peers that should be found, and for the install
 * path a stand-in apt-get that records how it was called and provides the commands it is asked for.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO } from '../helpers/sidecar-process.js';
import { findPeer, TEST_PEERS } from '../helpers/test-peers.js';

const isRoot = process.getuid?.() === 0;
const sudo = isRoot ? '' : 'sudo ';
const root = mkdtempSync(join(tmpdir(), 'meshwork-peers-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;

/** A new directory holding links to the named peers as installed here. */
function dirWith(commands: string[], dir = join(root, `path-${++dirs}`)): string {
  mkdirSync(dir, { recursive: true });
  for (const command of commands) symlinkSync(findPeer(command)!, join(dir, command));
  return dir;
}

/**
 * Adds an apt-get to `dir` that logs each call and, on `install`, links the commands of the packages
 * named into `dir`: or, told so, installs nothing or fails as apt-get does (exit code 100).
 */
function addAptGet(dir: string, behaviour: 'provides' | 'provides nothing' | 'fails' = 'provides'): string {
  const log = join(dir, 'apt-get.log');
  const provides = Object.fromEntries(TEST_PEERS.map((p) => [p.debianPackage, { command: p.command, target: findPeer(p.command) }]));
  writeFileSync(
    join(dir, 'apt-get'),
    `#!${process.execPath}
const { appendFileSync, symlinkSync } = require('node:fs');
const args = process.argv.slice(2);
appendFileSync(${JSON.stringify(log)}, JSON.stringify({ args, frontend: process.env.DEBIAN_FRONTEND }) + '\\n');
if (args[0] !== 'install') process.exit(0);
if (${JSON.stringify(behaviour)} === 'fails') process.exit(100);
const provides = ${JSON.stringify(provides)};
if (${JSON.stringify(behaviour)} === 'provides') {
  for (const name of args) if (provides[name]) symlinkSync(provides[name].target, ${JSON.stringify(dir)} + '/' + provides[name].command);
}
`,
    { mode: 0o755 },
  );
  return log;
}

const aptGetCalls = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { args: string[]; frontend: string }) : []);

function ensurePeers(path: string, env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'scripts/ensure-test-peers.ts')], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, MESHWORK_INSTALL_PEERS: '', ...env, PATH: path },
  });
  assert.equal(result.error, undefined);
  return { status: result.status, output: result.stdout + result.stderr };
}

test('with every peer on PATH it says nothing and lets npm test go on', () => {
  const run = ensurePeers(dirWith(TEST_PEERS.map((p) => p.command)));
  assert.deepEqual(run, { status: 0, output: '' });
});

for (const absent of TEST_PEERS) {
  test(`without ${absent.command}, and told not to install, it stops at once with the command that installs ${absent.debianPackage}`, () => {
    const run = ensurePeers(dirWith(TEST_PEERS.filter((p) => p !== absent).map((p) => p.command)), { MESHWORK_INSTALL_PEERS: '0' });
    assert.equal(run.status, 1);
    assert.match(run.output, new RegExp(`the tests need programs that are not installed: ${absent.command}[ .]`));
    assert.match(run.output, /Not installing them because MESHWORK_INSTALL_PEERS=0 is set\./);
    assert.ok(run.output.includes(`\n  ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${absent.debianPackage}\n`), run.output);
  });
}

test('dnsmasq in the sbin directory beside a bin directory on PATH counts, as Debian installs it for a user without sbin on PATH', () => {
  const bin = dirWith(['curl', 'python3', 'chromium'], join(root, 'usr-like', 'bin'));
  dirWith(['dnsmasq'], join(root, 'usr-like', 'sbin'));
  assert.deepEqual(ensurePeers(bin), { status: 0, output: '' });
});

test('MESHWORK_INSTALL_PEERS=0 keeps it from running apt-get, even as root with apt-get at hand', () => {
  const dir = dirWith(['python3', 'chromium']);
  const log = addAptGet(dir);
  const run = ensurePeers(dir, { MESHWORK_INSTALL_PEERS: '0' });
  assert.equal(run.status, 1);
  assert.ok(run.output.includes(`${sudo}apt-get install -y --no-install-recommends dnsmasq-base curl\n`), run.output);
  assert.deepEqual(aptGetCalls(log), []);
});

const asRoot = { skip: isRoot ? false : 'it installs only when run as root' };

test('as root with apt-get, it installs what is missing without a terminal, says what, and checks again', asRoot, () => {
  const dir = dirWith(['python3', 'chromium']);
  const log = addAptGet(dir);
  const run = ensurePeers(dir);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /installing what is missing: dnsmasq \(Debian package dnsmasq-base\), curl\n/);
  assert.match(run.output, /installed dnsmasq-base curl\n/);
  assert.deepEqual(aptGetCalls(log), [
    { args: ['update', '-qq'], frontend: 'noninteractive' },
    { args: ['install', '-y', '-qq', '--no-install-recommends', 'dnsmasq-base', 'curl'], frontend: 'noninteractive' },
  ]);
  assert.ok(existsSync(join(dir, 'dnsmasq')) && existsSync(join(dir, 'curl')));
});

test('when apt-get fails it stops with the command to run by hand', asRoot, () => {
  const dir = dirWith(['dnsmasq', 'python3', 'chromium']);
  addAptGet(dir, 'fails');
  const run = ensurePeers(dir);
  assert.equal(run.status, 1);
  assert.match(run.output, /apt-get install -y -qq --no-install-recommends curl failed \(exit code 100\)\. Install the packages yourself with:\n\n {2}apt-get update && apt-get install -y --no-install-recommends curl/);
});

test('when the command is still missing after apt-get succeeded it says which', asRoot, () => {
  const dir = dirWith(['dnsmasq', 'curl', 'chromium']);
  addAptGet(dir, 'provides nothing');
  const run = ensurePeers(dir);
  assert.equal(run.status, 1);
  assert.match(run.output, /apt-get installed python3, yet python3 cannot be found on PATH/);
});

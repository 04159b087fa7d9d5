// Runs every test/**/*.test.ts with Node's own test runner (Node 20's --test takes no globs).
// Arguments that are paths narrow the run: `npm test -- test/balancer` runs only files under that
// path, and a file outside the glob (a fixture) runs when named. No run can hang:
//   --test-timeout=<ms>  stops a test file that runs longer (default 120 s). Node 20 applies it to
//                        each file's process as a whole, so it also ends a file whose tests all
//                        passed but whose process something it left open keeps alive.
//   --watchdog=<ms>      stops the whole run (default 15 min) and says which files were running.
// The test processes get a process group of their own, ended with the run, so nothing the tests
// started (a dnsmasq or a sidecar under a file that had to be stopped) outlives it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { readProgress, whereStuck } from './test-progress.mjs';

const OPTIONS = { '--test-timeout': 'fileTimeoutMs', '--watchdog': 'watchdogMs' };

function fail(message) {
  console.error(`run-tests: ${message}`);
  process.exit(1);
}

function collect(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...collect(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

function parseArguments(args) {
  const parsed = { fileTimeoutMs: 120_000, watchdogMs: 15 * 60_000, paths: [] };
  for (const arg of args) {
    if (!arg.startsWith('--')) {
      parsed.paths.push(arg.replace(/^\.\//, ''));
      continue;
    }
    const [flag, value = ''] = arg.split(/=(.*)/s);
    const key = OPTIONS[flag];
    if (!key) fail(`unknown option "${arg}": the options are ${Object.keys(OPTIONS).map((o) => `${o}=<ms>`).join(' and ')}; other arguments are paths`);
    const ms = Number(value);
    if (!Number.isInteger(ms) || ms <= 0) fail(`${flag} expects a whole number of milliseconds, got "${value}"`);
    parsed[key] = ms;
  }
  return parsed;
}

const isFile = (path) => statSync(path, { throwIfNoEntry: false })?.isFile() === true;
const seconds = (ms) => `${Number((ms / 1000).toFixed(1))} s`;

const { fileTimeoutMs, watchdogMs, paths } = parseArguments(process.argv.slice(2));
const globbed = collect('test').filter((f) => paths.length === 0 || paths.some((p) => f.startsWith(p)));
const files = [...globbed, ...paths.filter((p) => isFile(p) && !globbed.includes(p))];
if (files.length === 0) fail(`no test files matched ${paths.join(' ') || 'test/**/*.test.ts'}`);

const progressDir = mkdtempSync(join(tmpdir(), 'meshwork-test-progress-'));
const progressFile = join(progressDir, 'progress.jsonl');
const ownGroup = process.platform !== 'win32';
const runner = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    // Test locations (and so the lines the runner reports) in the TypeScript source, not tsx's output.
    '--enable-source-maps',
    '--test',
    '--test-concurrency=2',
    `--test-timeout=${fileTimeoutMs}`,
    // Node's default reporter for the reader, as plain `node --test` would pick it ...
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    // ... and the progress this runner reads when it has to stop a file or the run.
    `--test-reporter=${new URL('./test-progress.mjs', import.meta.url).href}`,
    `--test-reporter-destination=${progressFile}`,
    ...files,
  ],
  { stdio: ['ignore', 'inherit', 'inherit'], detached: ownGroup },
);

function signalTests(signal) {
  try {
    if (ownGroup) process.kill(-runner.pid, signal);
    else runner.kill(signal);
  } catch {
    // Already gone.
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => signalTests(signal));

let stoppedByWatchdog = false;
const watchdog = setTimeout(() => {
  stoppedByWatchdog = true;
  // Node reports a file's tests only once the file ends, so a running file is all there is to name.
  const running = [...readProgress(progressFile)].filter(([, file]) => !file.ended);
  const lines = running.map(([path, file]) => `  ${relative(process.cwd(), path)} (running for ${seconds(Date.now() - file.startedAt)})`);
  console.error(`\nrun-tests: the run took longer than ${seconds(watchdogMs)} (--watchdog) and was stopped. ${running.length > 0 ? 'Still running:' : 'No test file was running.'}`);
  if (lines.length > 0) console.error(lines.join('\n'));
  signalTests('SIGKILL');
}, watchdogMs);

runner.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  if (ownGroup) signalTests('SIGKILL');
  for (const [path, file] of readProgress(progressFile)) {
    if (file.timedOut) console.error(`run-tests: ${relative(process.cwd(), path)} was stopped after ${seconds(fileTimeoutMs)} (--test-timeout bounds each test file): ${whereStuck(path, file)}.`);
  }
  rmSync(progressDir, { recursive: true, force: true });
  process.exit(stoppedByWatchdog ? 1 : (code ?? 128 + (constants.signals[signal] ?? 0)));
});

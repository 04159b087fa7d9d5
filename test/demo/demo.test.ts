/**
 * The `npm start` demo end to end: five sample apps and five real mesh-sidecar processes on
 * 127.0.0.1, a few seconds of traffic, and the table the demo prints must show what its banner
 * promises: every service answering, the retries hiding the flaky instance, the 90/10 canary split,
 * the injected delay in the tail latency, and no process left behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
// Long enough for the first table (after 5 s) and, after it, the command-line views to run while the
// mesh still runs, on a busy machine.
const DEMO_SECONDS = 12;

before(() => {
  // `npm ci` builds dist/ (the prepare script); a checkout where nobody built yet gets it here.
  if (existsSync(join(repo, 'dist/sidecar-mode/main.js'))) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit', shell: process.platform === 'win32' });
  assert.equal(build.status, 0, 'npm run build failed');
});

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: string[], timeoutMs: number, onStdout: (all: string) => void = () => {}): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['examples/demo/run.mjs', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      onStdout(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // SIGINT, as Ctrl-C would send, so even a stuck demo gets the chance to stop its children.
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Row {
  sidecar: string;
  authority: string;
  cells: Map<string, string>;
}

/** The rows of one section (OUTBOUND or INBOUND) of a printed table, by their column headers. */
function section(table: string[], title: string): Row[] {
  const start = table.findIndex((line) => line.startsWith(title));
  assert.ok(start >= 0, `no ${title} section in:\n${table.join('\n')}`);
  const header = (table[start + 1] ?? '').trim().split(/\s+/);
  const rows: Row[] = [];
  for (const line of table.slice(start + 2)) {
    if (line.trim() === '') break;
    const values = line.trim().split(/\s+/);
    assert.equal(values.length, header.length, `a ${title} row does not fit the header ${header.join(' ')}: ${line}`);
    const cells = new Map(header.map((name, i) => [name, values[i] ?? '']));
    rows.push({ sidecar: cells.get('SIDECAR') ?? '', authority: cells.get('AUTHORITY') ?? '', cells });
  }
  return rows;
}

/** A cell as a number: "99.50%" → 99.5, "12ms" → 12, "-" → NaN. */
function numberIn(row: Row | undefined, column: string): number {
  assert.ok(row, `missing row for column ${column}`);
  const text = row.cells.get(column);
  assert.ok(text !== undefined, `no ${column} column in ${[...row.cells.keys()].join(' ')}`);
  return text === '-' ? NaN : Number.parseFloat(text);
}

/** Runs the built mesh-sidecar binary with arguments, as a user would against the demo. */
function sidecarCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repo, 'dist/sidecar-mode/main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface LiveViews {
  dashboard: string;
  stat: { status: number | null; stdout: string; stderr: string };
  tap: { status: number | null; stdout: string; stderr: string };
  page: number;
}

test('npm start: the demo mesh runs on loopback and its table shows retries, the canary and the injected delay', { timeout: 60_000 }, async () => {
  // Once the first table is out (traffic has flowed for a while), look at simon's sidecar as a user
  // would: the dashboard's page, `mesh-sidecar stat` and `mesh-sidecar tap`.
  let views: Promise<LiveViews> | undefined;
  const run = await runDemo(['--duration', String(DEMO_SECONDS)], 40_000, (stdout) => {
    const dashboard = /dashboard: (http:\/\/[\d.:]+\/)/.exec(stdout)?.[1];
    if (views || !dashboard || !/golden metrics, last/.test(stdout)) return;
    const admin = new URL(dashboard).host;
    views = Promise.all([
      sidecarCli(['stat', '-o', 'json', '--admin', admin]),
      sidecarCli(['tap', '--count', '20', '-o', 'json', '--admin', admin]),
      fetch(dashboard).then((res) => res.status),
    ]).then(([stat, tap, page]) => ({ dashboard, stat, tap, page }));
  });
  assert.equal(run.code, 0, `the demo exited with ${run.signal ?? run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);

  const lines = run.stdout.split('\n');
  const finalAt = lines.findIndex((line) => line.includes('final golden metrics'));
  assert.ok(finalAt >= 0, `no final table in:\n${run.stdout}`);
  const table = lines.slice(finalAt);
  const context = `\n${table.join('\n')}`;
  const outbound = section(table, 'OUTBOUND');
  const inbound = section(table, 'INBOUND');

  for (const row of [...outbound, ...inbound]) {
    const success = numberIn(row, 'SUCCESS');
    assert.ok(success >= 0 && success <= 100, `${row.sidecar} ${row.authority}: SUCCESS is not a percentage${context}`);
  }
  const inboundOf = (sidecar: string) => inbound.find((r) => r.sidecar === sidecar);
  const outboundTo = (authority: string) => outbound.find((r) => r.sidecar === 'simon' && r.authority === authority);
  for (const app of ['simon', 'words-v1-a', 'words-v1-flaky', 'words-v2', 'capitalizer']) {
    assert.ok(numberIn(inboundOf(app), 'RPS') > 0, `no inbound traffic at ${app}${context}`);
  }
  for (const service of ['words', 'capitalizer']) {
    assert.ok(numberIn(outboundTo(service), 'RPS') > 0, `no outbound traffic from simon to ${service}${context}`);
  }

  // The flaky instance fails a lot, yet simon hardly notices: its sidecar retried those failures.
  assert.ok(numberIn(inboundOf('words-v1-flaky'), 'SUCCESS') < 90, `words-v1-flaky should fail visibly${context}`);
  assert.ok(numberIn(outboundTo('words'), 'RETRIES/s') > 0, `no retries to words${context}`);
  assert.ok(numberIn(outboundTo('words'), 'SUCCESS') >= 95, `retries should hide the flaky instance${context}`);
  assert.ok(numberIn(inboundOf('simon'), 'SUCCESS') >= 95, `simon should answer nearly every request${context}`);

  // 10% of the calls to words (retries included) go to the canary.
  const wordsRps = ['words-v1-a', 'words-v1-flaky', 'words-v2'].reduce((sum, app) => sum + numberIn(inboundOf(app), 'RPS'), 0);
  const canaryShare = numberIn(inboundOf('words-v2'), 'RPS') / wordsRps;
  assert.ok(canaryShare > 0.03 && canaryShare < 0.2, `words-v2 got ${(canaryShare * 100).toFixed(1)}% of words' traffic, expected about 10%${context}`);

  // 10% of the calls to capitalizer wait 100 ms more: the tail moves, the median does not.
  const capitalizer = outboundTo('capitalizer');
  assert.ok(numberIn(capitalizer, 'FAULTS/s') > 0, `no injected faults counted${context}`);
  assert.ok(numberIn(capitalizer, 'P99') >= 100, `the injected delay should show in capitalizer's p99${context}`);
  assert.ok(numberIn(capitalizer, 'P50') < 100, `capitalizer's median should stay below the injected delay${context}`);

  // The same, seen through simon's sidecar's admin port while the demo ran.
  assert.ok(views, `the demo printed no dashboard address, or no table:\n${run.stdout}`);
  const live = await views;
  assert.equal(live.page, 200, `the dashboard at ${live.dashboard}`);
  assert.equal(live.stat.status, 0, `mesh-sidecar stat: ${live.stat.stderr}`);
  const stat = JSON.parse(live.stat.stdout) as { services: { direction: string; name: string; rps: number; retries: { perSecond: number }; faultsPerSecond: number }[] };
  const statOf = (name: string) => stat.services.find((s) => s.direction === 'outbound' && s.name === name);
  assert.ok(statOf('words')!.rps > 0 && statOf('words')!.retries.perSecond > 0, `stat shows no retries to words: ${live.stat.stdout}`);
  assert.ok(statOf('capitalizer')!.faultsPerSecond > 0, `stat shows no faults for capitalizer: ${live.stat.stdout}`);
  assert.equal(live.tap.status, 0, `mesh-sidecar tap: ${live.tap.stderr}`);
  const tapped = live.tap.stdout.trim().split('\n').map((line) => JSON.parse(line) as { authority: string; direction: string });
  assert.equal(tapped.length, 20);
  assert.ok(tapped.some((e) => e.direction === 'outbound' && (e.authority === 'words' || e.authority === 'capitalizer')), live.tap.stdout);

  // Every app and sidecar the demo started has exited.
  assert.match(run.stdout, /demo stopped: 10 processes ended cleanly/);
  const pids = [...run.stdout.matchAll(/\bpid (\d+)\b/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 10, `expected 10 pids in the process listing${context}`);
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is still running`);
  }
});

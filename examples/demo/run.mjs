#!/usr/bin/env node
// `npm start`: a small mesh on loopback, watched like `linkerd viz stat`.
//
// Five sample apps (examples/demo/sample-service.mjs), each behind its own mesh-sidecar process; a
// traffic generator sends a steady load into simon; every second the sidecars' /metrics are scraped
// and a table of golden metrics is drawn. Plain JavaScript on purpose: it runs the built sidecar
// (dist/, which `npm ci` builds) exactly as a user would, with nothing else installed.
//
//   node examples/demo/run.mjs [--duration <seconds>] [--rps <n>]      (env DEMO_DURATION too)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { foldScrape, formatColumns, formatMs, formatPercent, formatRate, ScrapeHistory } from './golden-metrics.mjs';
import { parsePrometheusText } from './prometheus-text.mjs';
import { startTraffic, warmUp } from './traffic.mjs';

const DEMO_DIR = dirname(fileURLToPath(import.meta.url));
const SIDECAR_MAIN = resolve(DEMO_DIR, '../../dist/sidecar-mode/main.js');

const WINDOW_MS = 10_000;
const SCRAPE_EVERY_MS = 1_000;
// A pipe or a file gets a fresh table now and then rather than a redraw every second.
const PRINT_EVERY_MS = 5_000;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

// The topology. simon is the front app; the rest are what it calls, each instance its own process
// with its own sidecar, so each shows up as its own row in the INBOUND table.
const APPS = [
  { name: 'simon', role: 'simon', version: 'v1', latencyMs: 1, config: 'mesh.yaml' },
  { name: 'words-v1-a', role: 'words', version: 'v1', latencyMs: 4 },
  { name: 'words-v1-flaky', role: 'words', version: 'v1', latencyMs: 4, failureRatio: 0.3 },
  { name: 'words-v2', role: 'words', version: 'v2', latencyMs: 4 },
  { name: 'capitalizer', role: 'capitalizer', version: 'v1', latencyMs: 2 },
];

const banner = (rps) => `meshwork demo: 5 apps on 127.0.0.1, each behind its own mesh-sidecar; ${rps} req/s

  simon ─▶ words        90% v1: words-v1-a, words-v1-flaky (500 on 30%)
        │               10% words-v2, the canary
        └▶ capitalizer  10% of calls get an injected 100 ms delay

  Where to look (the config is examples/demo/mesh.yaml; the dashboard's address follows):
  OUTBOUND words          SUCCESS ~100%, RETRIES/s > 0: retries hide the flake
  INBOUND words-v1-flaky  SUCCESS ~70%: the failures simon never saw
  INBOUND words-v2        a tenth of all words instances' RPS: the canary split
  OUTBOUND capitalizer    P95/P99 at 100 ms or more, P50 low: the injected delay`;

function usage() {
  return `usage: node examples/demo/run.mjs [--duration <seconds>] [--rps <requests per second>]
  --duration  stop after this many seconds (default: run until Ctrl-C; env DEMO_DURATION)
  --rps       load sent into simon (default 50)
`;
}

function parseOptions() {
  let parsed;
  try {
    parsed = parseArgs({ options: { duration: { type: 'string' }, rps: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage()}`);
    process.exit(2);
  }
  if (parsed.values.help) {
    process.stdout.write(usage());
    process.exit(0);
  }
  const durationText = parsed.values.duration ?? process.env.DEMO_DURATION;
  const durationSeconds = durationText === undefined || durationText === '' ? undefined : Number(durationText);
  const rps = Number(parsed.values.rps ?? 50);
  if ((durationSeconds !== undefined && !(durationSeconds > 0)) || !(rps > 0)) {
    process.stderr.write(`--duration and --rps must be numbers above 0\n${usage()}`);
    process.exit(2);
  }
  return { durationSeconds, rps };
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** Everything started, so that every way out (done, Ctrl-C, a crash) can stop all of it. */
const children = [];

function spawnChild(label, args, stdin) {
  // Detached: its own process group, so Ctrl-C in the terminal reaches only this launcher, which
  // then stops the traffic before the sidecars and the sidecars before the apps.
  const child = spawn(process.execPath, args, { stdio: [stdin, 'pipe', 'pipe'], detached: true });
  children.push({ label, child });
  return child;
}

/** Resolves with the first stdout line of an app (its port, as JSON). */
function startApp(app) {
  const args = [join(DEMO_DIR, 'sample-service.mjs'), '--name', app.name, '--role', app.role, '--version', app.version, '--port', '0'];
  if (app.latencyMs) args.push('--latency-ms', String(app.latencyMs));
  if (app.failureRatio) args.push('--failure-ratio', String(app.failureRatio));
  const child = spawnChild(app.name, args, 'pipe');
  const stderrTail = [];
  createInterface({ input: child.stderr }).on('line', (line) => keepTail(stderrTail, line));
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${app.name} did not report its port within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const { port } = JSON.parse(line);
        resolvePort({ ...app, port, pid: child.pid, process: child });
      } catch {
        reject(new Error(`${app.name} printed ${JSON.stringify(line)} instead of its port`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // After startup this only matters as news for the footer; before it, the demo cannot run.
      if (!stopping) keepTail(recentWarnings, `${app.name}: exited (${signal ?? `code ${code}`}) ${stderrTail.slice(-1).join('')}`, 3);
      reject(new Error(`${app.name} exited (${signal ?? `code ${code}`}) before it listened:\n${stderrTail.join('\n')}`));
    });
  });
}

/** Warnings and errors logged after startup, and unexpected exits, newest last, for the footer. */
const recentWarnings = [];

function describeLogEntry({ time, level, msg, ...fields }) {
  return `${level} ${msg ?? ''}${Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}`;
}

/**
 * Starts one sidecar in front of an app and resolves with the addresses from its ready line. Its
 * other stderr lines are JSON logs: info and debug are dropped, warnings and errors kept for the
 * footer, so the table stays readable.
 */
function startSidecar(name, configPath, appPort) {
  const child = spawnChild(`${name} sidecar`, [
    SIDECAR_MAIN,
    '--config', configPath,
    '--outbound', '127.0.0.1:0',
    '--inbound', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--app', `127.0.0.1:${appPort}`,
    // Nothing is in flight once the traffic has stopped; no reason to wait the default 10 s.
    '--drain-grace', '1s',
  ], 'ignore');
  const stderrTail = [];
  let ready = false;
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${name} sidecar was not ready within ${START_TIMEOUT_MS / 1000} s:\n${stderrTail.join('\n')}`)), START_TIMEOUT_MS);
    createInterface({ input: child.stderr }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = undefined;
      }
      if (!ready && entry?.msg === 'mesh-sidecar ready') {
        ready = true;
        clearTimeout(timer);
        resolveReady({ name, pid: child.pid, process: child, outbound: entry.outbound, inbound: entry.inbound, admin: entry.admin });
        return;
      }
      keepTail(stderrTail, line);
      const serious = entry === undefined || entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal';
      if (ready && serious && !stopping) {
        keepTail(recentWarnings, `${name} sidecar: ${entry === undefined ? line : describeLogEntry(entry)}`, 3);
      }
    });
    child.once('exit', (code, signal) => {
      if (ready) {
        if (!stopping) keepTail(recentWarnings, `${name} sidecar: exited (${signal ?? `code ${code}`})`, 3);
        return;
      }
      clearTimeout(timer);
      reject(new Error(`the ${name} sidecar exited (${signal ?? `code ${code}`}) before it was ready:\n${stderrTail.join('\n')}`));
    });
  });
}

function keepTail(lines, line, max = 20) {
  lines.push(line);
  if (lines.length > max) lines.shift();
}

/** An address to connect to: a sidecar listening on every interface is reachable on loopback. */
function connectable(address) {
  return address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '127.0.0.1:');
}

async function fillTemplate(templateName, addresses, outputDir) {
  const template = await readFile(join(DEMO_DIR, templateName), 'utf8');
  // Comment lines are left as written, so the generated file still explains its placeholders.
  const filled = template
    .split('\n')
    .map((line) =>
      /^\s*#/.test(line)
        ? line
        : line.replace(/\{\{([a-z0-9-]+)\}\}/g, (_, name) => {
            const address = addresses.get(name);
            if (address === undefined) throw new Error(`${templateName} names {{${name}}}, which is not an app of the demo`);
            return address;
          }),
    )
    .join('\n');
  const outputPath = join(outputDir, templateName);
  await writeFile(outputPath, filled);
  return outputPath;
}

let stopping = false;

/** SIGTERM to everything, then SIGKILL to whatever has not exited in time. Reports who lingered. */
async function stopChildren() {
  const problems = [];
  const alive = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  const exited = alive.map(
    ({ label, child }) =>
      new Promise((resolveExit) => {
        const timer = setTimeout(() => {
          problems.push(`${label} (pid ${child.pid}) ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000} s; killed`);
          child.kill('SIGKILL');
        }, STOP_TIMEOUT_MS);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          if (code !== 0 && signal !== 'SIGKILL') problems.push(`${label} (pid ${child.pid}) exited with ${signal ?? `code ${code}`} after SIGTERM`);
          resolveExit();
        });
        child.stdin?.end();
        child.kill('SIGTERM');
      }),
  );
  await Promise.all(exited);
  return problems;
}

// Whatever happens (an exception included), no process of the demo outlives it.
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (process.stdout.isTTY) process.stdout.write('\x1b[?25h');
});

// ---------------------------------------------------------------------------------------------
// Metrics and the table

async function scrape(sidecar) {
  const res = await fetch(`http://${sidecar.admin}/metrics`, { signal: AbortSignal.timeout(SCRAPE_EVERY_MS) });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return foldScrape(parsePrometheusText(await res.text()));
}

function renderTable({ sidecars, histories, traffic, scrapeErrors, elapsedSeconds, final }) {
  const inbound = [];
  const outbound = [];
  let windowSeconds = 0;
  for (const sidecar of sidecars) {
    const { seconds, rows } = histories.get(sidecar.name).current();
    windowSeconds = Math.max(windowSeconds, seconds);
    for (const row of rows) {
      const cells = [sidecar.name, row.authority, formatPercent(row.successRate), formatRate(row.rps), formatMs(row.p50), formatMs(row.p95), formatMs(row.p99)];
      if (row.direction === 'outbound') {
        // The sidecar counts delayed and aborted faults apart; the table shows them together.
        const faults = row.perSecond('meshwork_faults_delayed_total') + row.perSecond('meshwork_faults_aborted_total');
        outbound.push([...cells, formatRate(row.perSecond('meshwork_retries_total')), formatRate(faults)]);
      } else {
        inbound.push(cells);
      }
    }
  }
  const header = ['SIDECAR', 'AUTHORITY', 'SUCCESS', 'RPS', 'P50', 'P95', 'P99'];
  const noRows = (what) => [`  (no ${what} traffic yet)`];
  const lines = [
    `── ${final ? 'final ' : ''}golden metrics, last ${windowSeconds.toFixed(1)} s (traffic for ${Math.round(elapsedSeconds)} s)${final ? '' : ' · Ctrl-C stops'} ──`,
    '',
    "OUTBOUND  the caller's sidecar: after retries, with the injected faults",
    ...(outbound.length ? formatColumns([...header, 'RETRIES/s', 'FAULTS/s'], outbound) : noRows('outbound')),
    '',
    "INBOUND   each app's own sidecar: what the app itself answered",
    ...(inbound.length ? formatColumns(header, inbound) : noRows('inbound')),
    '',
    `traffic into simon: ${traffic.stats.sent} sent, ${traffic.stats.ok} answered 200, ${traffic.stats.failed} failed${traffic.stats.skipped ? `, ${traffic.stats.skipped} not sent (${traffic.stats.inFlight} in flight)` : ''}${traffic.stats.lastFailure ? ` (last: ${traffic.stats.lastFailure})` : ''}`,
  ];
  for (const [name, message] of scrapeErrors) lines.push(`could not scrape the ${name} sidecar: ${message}`);
  for (const warning of recentWarnings) lines.push(`! ${warning.slice(0, 160)}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const { durationSeconds, rps } = parseOptions();
  const interactive = process.stdout.isTTY === true;
  if (!existsSync(SIDECAR_MAIN)) {
    process.stderr.write(`${SIDECAR_MAIN} is missing: run \`npm run build\` first (\`npm ci\` runs it for you).\n`);
    process.exit(1);
  }

  const workDir = await mkdtemp(join(tmpdir(), 'meshwork-demo-'));
  let traffic;
  let stopRequested;
  const stopSignal = new Promise((r) => (stopRequested = r));
  const onSignal = (signal) => {
    if (stopping) {
      // A second Ctrl-C means now: the exit handler kills whatever is left.
      process.exit(130);
    }
    stopRequested(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);
  // `npm start | head` closes stdout early: stop as Ctrl-C would, without a stack trace.
  let stdoutClosed = false;
  process.stdout.on('error', (err) => {
    // After the reader has gone, the remaining writes fail too (EPIPE, or a destroyed stream).
    if (err.code !== 'EPIPE' && !stdoutClosed) throw err;
    stdoutClosed = true;
    stopRequested('stdout closed');
  });

  try {
    process.stdout.write(`${banner(rps)}\n\nstarting ${APPS.length} apps and ${APPS.length} sidecars...\n`);
    const apps = await Promise.all(APPS.map(startApp));
    const front = apps.find((a) => a.config !== undefined);
    const backends = apps.filter((a) => a !== front);

    // The apps simon calls get their sidecars first, because simon's config names their addresses.
    const backendSidecars = await Promise.all(backends.map((app) => startSidecar(app.name, join(DEMO_DIR, 'inbound-only.yaml'), app.port)));
    const inboundAddresses = new Map(backendSidecars.map((s) => [s.name, connectable(s.inbound)]));
    const frontConfig = await fillTemplate(front.config, inboundAddresses, workDir);
    const frontSidecar = await startSidecar(front.name, frontConfig, front.port);
    front.process.stdin.write(`${JSON.stringify({ outbound: connectable(frontSidecar.outbound) })}\n`);
    const sidecars = [frontSidecar, ...backendSidecars];

    const portOf = (address) => (address ? address.slice(address.lastIndexOf(':')) : '-');
    const listing = formatColumns(
      ['APP', 'PORT', 'PROCESS', 'SIDECAR', 'INBOUND', 'OUTBOUND', 'ADMIN'],
      apps.map((app) => {
        const s = sidecars.find((x) => x.name === app.name);
        return [app.name, `:${app.port}`, `pid ${app.pid}`, `pid ${s.pid}`, portOf(s.inbound), portOf(s.outbound), portOf(s.admin)];
      }),
    );
    process.stdout.write(`${listing.map((l) => `  ${l}`).join('\n')}\n  (all on 127.0.0.1; simon's sidecar runs ${frontConfig})\n\n`);
    // Every sidecar's admin port has a dashboard; simon's sees both its inbound traffic and its calls.
    const cli = `node ${relative(process.cwd(), SIDECAR_MAIN) || SIDECAR_MAIN}`;
    process.stdout.write(
      `  dashboard: http://${frontSidecar.admin}/  (simon's sidecar; each sidecar's ADMIN port above has one)\n` +
        `  or in a terminal: ${cli} stat --admin ${frontSidecar.admin}   (and routes, top, tap -o wide)\n\n`,
    );

    const histories = new Map(sidecars.map((s) => [s.name, new ScrapeHistory(WINDOW_MS)]));
    const scrapeErrors = new Map();
    const scrapeAll = async () => {
      const at = Date.now();
      await Promise.all(
        sidecars.map(async (s) => {
          try {
            histories.get(s.name).add(at, await scrape(s));
            scrapeErrors.delete(s.name);
          } catch (err) {
            scrapeErrors.set(s.name, err.message);
          }
        }),
      );
    };

    const target = { address: connectable(frontSidecar.inbound), host: 'simon', path: '/' };
    process.stdout.write('warming up...\n');
    await warmUp(target);
    // The baseline comes after the warm-up, so the table counts only the steady load, from zero.
    await scrapeAll();
    traffic = startTraffic({ ...target, rps });
    const trafficStartedAt = Date.now();
    const table = (final) => renderTable({ sidecars, histories, traffic, scrapeErrors, elapsedSeconds: (Date.now() - trafficStartedAt) / 1000, final });

    let lastPrintedAt = trafficStartedAt;
    // On a terminal the table is redrawn in place under the banner and the process list, which
    // stay in view: move up over the previous table, clear to the end, write the new one. Lines
    // are cut to the terminal's width, because a wrapped line would throw the count off.
    let linesOnScreen = 0;
    const redraw = (lines) => {
      const width = process.stdout.columns || 80;
      const fitted = lines.map((l) => (l.length >= width ? l.slice(0, width - 1) : l));
      process.stdout.write(`\x1b[?25l${linesOnScreen > 0 ? `\x1b[${linesOnScreen}A\r` : ''}\x1b[J${fitted.join('\n')}\n`);
      linesOnScreen = fitted.length;
    };
    const draw = () => {
      if (interactive) redraw(table(false));
      else if (Date.now() - lastPrintedAt >= PRINT_EVERY_MS - SCRAPE_EVERY_MS / 2) {
        lastPrintedAt = Date.now();
        process.stdout.write(`${table(false).join('\n')}\n\n`);
      }
    };

    const timers = [];
    const tick = setInterval(() => {
      void scrapeAll().then(() => {
        if (!stopping) draw();
      });
    }, SCRAPE_EVERY_MS);
    timers.push(tick);
    if (durationSeconds !== undefined) timers.push(setTimeout(() => stopRequested('duration'), durationSeconds * 1000));

    const reason = await stopSignal;
    stopping = true;
    for (const t of timers) clearInterval(t);
    await traffic.stop();
    await scrapeAll();
    const finalTable = table(true);
    if (interactive) redraw([...finalTable, '']);
    else process.stdout.write(`${finalTable.join('\n')}\n\n`);
    process.stdout.write(reason === 'duration' ? `${durationSeconds} s are up; stopping...\n` : `${reason}: stopping...\n`);
    const problems = await stopChildren();
    for (const p of problems) process.stdout.write(`  ${p}\n`);
    process.stdout.write(`demo stopped: ${children.length} processes ended${problems.length ? '' : ' cleanly'}\n`);
  } catch (err) {
    stopping = true;
    process.stderr.write(`\nthe demo could not run: ${err.message}\n`);
    await traffic?.stop(0);
    await stopChildren();
    process.exitCode = 1;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  // Keep-alive sockets and readline interfaces would otherwise hold the event loop open.
  process.exit(process.exitCode ?? 0);
}

await main();

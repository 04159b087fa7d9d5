/**
 * mesh-sidecar as a proxy, against the proxies people would otherwise put in the same place: nginx
 * and HAProxy (from Debian) and node-http-proxy, all forwarding to one backend in the same run.
 *
 *   throughput, p50/p99   wrk -t1 -c32 per target, in interleaved rounds (order reversed every other
 *                         round) so that machine drift affects every target alike
 *   added p99 at 1k rps   open loop at 1000 req/s through each proxy and straight to the backend;
 *                         p99(proxy) − p99(direct) is the cost of one hop at a realistic load, which a
 *                         saturating closed-loop run cannot show
 *   RSS, CPU s / 1k req   /proc of each proxy's process tree, sampled during and after the wrk runs
 *
 * Targets (from the issue): sidecar ≥ 0.6× nginx req/s, ≥ 2× node-http-proxy, RSS ≤ 60 MB, added
 * p99 at 1k rps ≤ 0.3 ms per hop.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startFleet, type BackendFleet } from '../lib/latency-backends.js';
import { openLoop, percentile } from '../lib/open-loop.js';
import { cpuSeconds, memory, processTree } from '../lib/proc-stats.js';
import { Children, ensureTools, SIDECAR_MAIN, startHaproxy, startNginx, startNodeHttpProxy, startSidecar, type Target } from '../lib/proxy-targets.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';
import type { SuiteResult } from './retry-amplification.js';

/** The sidecar routes by Host; every other target gets the same header so requests are identical. */
const SERVICE = 'bench';
const BODY = '{"reviews":[{"id":1,"stars":5}],"ok":true}';
const CONNECTIONS = 32;
const OPEN_LOOP_RPS = 1000;

const TARGETS = {
  throughputVsNginx: 0.6,
  throughputVsNodeHttpProxy: 2,
  rssMb: 60,
  addedP99Ms: 0.3,
};

interface Row {
  label: string;
  /** Set once started; undefined while (or because) it could not be. */
  target?: Target;
  /** Why this row has no figures. */
  skipped?: string;
  /** Figures for the process tree are not taken for the backend itself. */
  direct?: boolean;
  wrk: WrkResult[];
  cpuS: number;
  requests: number;
  wrkErrors: number;
  rssUnderLoadMb: number;
  peakMb: number;
  /** Each open-loop round's p99, ms. */
  openLoopRoundP99: number[];
  openLoopFailed: number;
  pool?: Pool;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function version(command: string | undefined, flag: string): string | undefined {
  if (command === undefined) return undefined;
  const r = spawnSync(command, [flag], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim();
}

/** A dist/ older than the sources measures yesterday's sidecar; say so rather than mislead. */
function staleBuildNote(): string | undefined {
  const srcDir = fileURLToPath(new URL('../../src/sidecar-mode/', import.meta.url));
  if (!existsSync(SIDECAR_MAIN) || !existsSync(srcDir)) return undefined;
  const built = statSync(SIDECAR_MAIN).mtimeMs;
  const newer = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && statSync(join(srcDir, f)).mtimeMs > built);
  return newer.length > 0 ? `**dist/ is older than src/sidecar-mode** (${newer.join(', ')}): run \`npm run build\` first; these figures are for the older build.` : undefined;
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const name = 'sidecar-proxy';
  const title = '### Sidecar proxy: mesh-sidecar against nginx, HAProxy and node-http-proxy';
  const tools = ensureTools();
  const wrk = tools.paths.wrk;
  if (wrk === undefined) return { name, markdown: [title, '', ...tools.notes].join('\n') };

  // Many short interleaved rounds rather than a few long ones: on a shared 2-core machine a burst of
  // someone else's work then spoils one round of one target, which the medians below discard.
  const rounds = options.quick ? 2 : 5;
  const wrkSeconds = options.quick ? 3 : 6;
  const warmSeconds = options.quick ? 1 : 3;
  const openLoopRounds = options.quick ? 3 : 8;
  const openLoopMs = options.quick ? 1_500 : 2_500;
  const loadBefore = loadavg()[0]!;

  const rows: Row[] = ['direct (no proxy)', 'nginx', 'HAProxy', 'node-http-proxy', 'mesh-sidecar'].map((label) => ({
    label,
    wrk: [],
    cpuS: 0,
    requests: 0,
    wrkErrors: 0,
    rssUnderLoadMb: 0,
    peakMb: 0,
    openLoopRoundP99: [],
    openLoopFailed: 0,
  }));
  const [direct, nginxRow, haproxyRow, nodeProxyRow, sidecarRow] = rows as [Row, Row, Row, Row, Row];
  direct.direct = true;

  const dir = await mkdtemp(join(tmpdir(), 'meshwork-sidecar-bench-'));
  const children = new Children();
  let fleet: BackendFleet | undefined;
  try {
    fleet = await startFleet(1, 0);
    const backendPort = fleet.ports[0]!;
    direct.target = { label: direct.label, port: backendPort, pid: 0 };

    const start = async (row: Row, how: (() => Promise<Target>) | string) => {
      if (typeof how === 'string') {
        row.skipped = how;
        return;
      }
      try {
        row.target = await how();
      } catch (err) {
        row.skipped = `did not start: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`;
      }
    };
    const { nginx, haproxy } = tools.paths;
    await start(nginxRow, nginx ? () => startNginx(children, nginx, dir, backendPort) : 'nginx not installed');
    await start(haproxyRow, haproxy ? () => startHaproxy(children, haproxy, dir, backendPort) : 'haproxy not installed');
    await start(nodeProxyRow, () => startNodeHttpProxy(children, dir, backendPort));
    await start(sidecarRow, () => startSidecar(children, dir, backendPort, SERVICE));

    // A proxy that answers 502 fast would win every race: check each one really reaches the backend.
    for (const row of rows) {
      if (!row.target) continue;
      row.pool = new Pool(`http://127.0.0.1:${row.target.port}`, { connections: 8 });
      try {
        const res = await row.pool.request({ method: 'GET', path: '/', headers: { host: SERVICE } });
        const body = await res.body.text();
        if (res.statusCode !== 200 || body !== BODY) {
          const why = res.headers['x-meshwork-error'];
          row.skipped = `answered ${res.statusCode}${why ? ` (x-meshwork-error: ${String(why)})` : ''} instead of the backend's 200`;
        }
      } catch (err) {
        row.skipped = `request failed: ${(err as Error).message}`;
      }
    }
    const live = () => rows.filter((r) => r.target !== undefined && r.skipped === undefined);

    const wrkRun = (row: Row, seconds: number) =>
      runWrk({ wrk, url: `http://127.0.0.1:${row.target!.port}/`, host: SERVICE, threads: 1, connections: CONNECTIONS, durationS: seconds, workDir: dir });
    const guarded = async (row: Row, what: string, body: () => Promise<void>) => {
      try {
        await body();
      } catch (err) {
        row.skipped = `${what} failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`;
      }
    };

    console.error(`sidecar-proxy: ${live().map((r) => r.label).join(', ')}; skipped: ${rows.filter((r) => r.skipped).map((r) => `${r.label} (${r.skipped})`).join('; ') || 'none'}`);
    // JIT warm-up for the Node proxies (and the backend); nginx and HAProxy just fill their pools.
    for (const row of live()) await guarded(row, 'warm-up', async () => void (await wrkRun(row, warmSeconds)));

    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? live() : live().reverse();
      for (const row of order) {
        await guarded(row, 'wrk', async () => {
          const tree = row.direct ? [] : processTree(row.target!.pid);
          const cpu0 = cpuSeconds(tree);
          // Sampled while wrk runs: resident memory under load, not just after it.
          const sampler = setInterval(() => (row.rssUnderLoadMb = Math.max(row.rssUnderLoadMb, memory(tree).rssMb)), 250);
          try {
            const result = await wrkRun(row, wrkSeconds);
            row.cpuS += cpuSeconds(tree) - cpu0;
            row.requests += result.requests;
            row.wrkErrors += result.errors;
            row.wrk.push(result);
          } finally {
            clearInterval(sampler);
          }
          row.rssUnderLoadMb = Math.max(row.rssUnderLoadMb, memory(tree).rssMb);
        });
        console.error(`sidecar-proxy: round ${round + 1}/${rounds} ${row.label}: ${row.wrk.at(-1) ? `${Math.round(row.wrk.at(-1)!.rps)} req/s` : row.skipped}`);
      }
    }

    const send = (row: Row) => async () => {
      const res = await row.pool!.request({ method: 'GET', path: '/', headers: { host: SERVICE } });
      await res.body.dump();
      return res.statusCode === 200;
    };
    for (const row of live()) await openLoop(OPEN_LOOP_RPS, 1_000, send(row));
    for (let round = 0; round < openLoopRounds; round++) {
      const order = round % 2 === 0 ? live() : live().reverse();
      for (const row of order) {
        const result = await openLoop(OPEN_LOOP_RPS, openLoopMs, send(row));
        row.openLoopRoundP99.push(percentile(result.latencies, 99));
        row.openLoopFailed += result.failed;
      }
    }
    for (const row of rows) if (row.target && !row.direct) row.peakMb = memory(processTree(row.target.pid)).peakMb;
  } finally {
    await Promise.all(rows.map((r) => r.pool?.close()));
    await children.stopAll();
    fleet?.stop();
    await rm(dir, { recursive: true, force: true });
  }

  const load = [loadBefore, loadavg()[0]!];
  return { name, markdown: report(rows, tools.notes, { rounds, wrkSeconds, openLoopRounds, openLoopMs, load, wrk, nginx: tools.paths.nginx, haproxy: tools.paths.haproxy }) };
}

interface Setup {
  rounds: number;
  wrkSeconds: number;
  openLoopRounds: number;
  openLoopMs: number;
  /** 1-minute load average before and after the run. */
  load: number[];
  wrk: string;
  nginx: string | undefined;
  haproxy: string | undefined;
}

function report(rows: Row[], notes: string[], s: Setup): string {
  const [direct, nginxRow, , nodeProxyRow, sidecarRow] = rows as [Row, Row, Row, Row, Row];
  const measured = (r: Row) => r.wrk.length > 0;
  const rps = (r: Row) => median(r.wrk.map((w) => w.rps));
  const p99At1k = (r: Row) => median(r.openLoopRoundP99);
  // Paired by round, so that a noisy round moves the proxy and the direct figure together.
  const perRoundAdded = (r: Row) => r.openLoopRoundP99.map((p, i) => p - (direct.openLoopRoundP99[i] ?? NaN)).filter(Number.isFinite);
  const added = (r: Row) => median(perRoundAdded(r));
  const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
  const signed = (x: number, digits: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}` : '—');

  const addedCell = (r: Row) => {
    if (r.openLoopRoundP99.length === 0) return '—';
    if (r.direct) return `(p99 ${fixed(p99At1k(r), 2)})`;
    // The range of the rounds next to their median shows how much of the figure is noise.
    const rounds = perRoundAdded(r);
    const spread = rounds.length > 1 ? `, rounds ${signed(Math.min(...rounds), 2)} … ${signed(Math.max(...rounds), 2)}` : '';
    return `**${signed(added(r), 2)}** (p99 ${fixed(p99At1k(r), 2)}${spread})`;
  };
  const line = (r: Row) => {
    if (!measured(r)) return `| ${r.label} | skipped: ${r.skipped ?? 'not measured'} | | | | | | |`;
    const ratio = measured(nginxRow) ? `${(rps(r) / rps(nginxRow)).toFixed(2)}×` : '—';
    const mem = r.direct ? '—' : `${fixed(r.rssUnderLoadMb, 1)} / ${fixed(r.peakMb, 1)}`;
    const cpu = r.direct ? '—' : (r.cpuS / (r.requests / 1000)).toFixed(3);
    const label = r.skipped ? `${r.label} (later failed: ${r.skipped})` : r.label;
    return `| ${label} | ${Math.round(rps(r)).toLocaleString('en-US')} | ${ratio} | ${fixed(median(r.wrk.map((w) => w.p50Ms)), 2)} | ${fixed(median(r.wrk.map((w) => w.p99Ms)), 2)} | ${addedCell(r)} | ${mem} | ${cpu} |`;
  };

  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : '**NOT met**');
  const sidecarOk = measured(sidecarRow);
  const vsNginx = sidecarOk && measured(nginxRow) ? rps(sidecarRow) / rps(nginxRow) : NaN;
  const vsNode = sidecarOk && measured(nodeProxyRow) ? rps(sidecarRow) / rps(nodeProxyRow) : NaN;
  const sidecarAdded = sidecarRow.openLoopRoundP99.length > 0 && direct.openLoopRoundP99.length > 0 ? added(sidecarRow) : NaN;
  const why = (r: Row) => `${r.label} not measured${r.skipped ? `: ${r.skipped}` : ''}`;
  const targetRows = [
    `| throughput vs nginx | ≥ ${TARGETS.throughputVsNginx}× | ${Number.isFinite(vsNginx) ? `${vsNginx.toFixed(2)}×` : why(sidecarOk ? nginxRow : sidecarRow)} | ${verdict(Number.isFinite(vsNginx) ? vsNginx >= TARGETS.throughputVsNginx : undefined)} |`,
    `| throughput vs node-http-proxy | ≥ ${TARGETS.throughputVsNodeHttpProxy}× | ${Number.isFinite(vsNode) ? `${vsNode.toFixed(2)}×` : why(sidecarOk ? nodeProxyRow : sidecarRow)} | ${verdict(Number.isFinite(vsNode) ? vsNode >= TARGETS.throughputVsNodeHttpProxy : undefined)} |`,
    `| RSS (peak, VmHWM) | ≤ ${TARGETS.rssMb} MB | ${sidecarOk ? `${sidecarRow.peakMb.toFixed(1)} MB (${sidecarRow.rssUnderLoadMb.toFixed(1)} MB under load)` : why(sidecarRow)} | ${verdict(sidecarOk ? sidecarRow.peakMb <= TARGETS.rssMb : undefined)} |`,
    `| added p99 at ${OPEN_LOOP_RPS} req/s, one hop | ≤ ${TARGETS.addedP99Ms} ms | ${Number.isFinite(sidecarAdded) ? `${signed(sidecarAdded, 3)} ms` : why(sidecarRow)} | ${verdict(Number.isFinite(sidecarAdded) ? sidecarAdded <= TARGETS.addedP99Ms : undefined)} |`,
  ];

  const problems = rows
    .filter((r) => r.wrkErrors > 0 || r.openLoopFailed > 0)
    .map((r) => `**${r.label}: ${r.wrkErrors} wrk errors (non-2xx or socket), ${r.openLoopFailed} failed open-loop requests**; its figures include them.`);
  const stale = staleBuildNote();
  const versions = [version(s.wrk, '-v')?.replace(/ \[.*$/, ''), version(s.nginx, '-v')?.replace(/^nginx version: /, ''), version(s.haproxy, '-v')?.replace(/ \d{4}\/.*$/, ''), `http-proxy ${(createRequire(import.meta.url)('http-proxy/package.json') as { version: string }).version}`, `Node ${process.version}`].filter(Boolean);

  return [
    '### Sidecar proxy: mesh-sidecar against nginx, HAProxy and node-http-proxy',
    '',
    `One backend (node:http in a child process, ${Buffer.byteLength(BODY)}-byte body) on 127.0.0.1; every proxy forwards to it over keep-alive upstream connections with one worker: nginx \`worker_processes 1\` + \`keepalive 64\`, HAProxy \`nbthread 1\` + \`http-reuse always\`, node-http-proxy with a keep-alive agent, mesh-sidecar with one service (its default stack) selected by \`Host: ${SERVICE}\`.`,
    `Throughput and latency: \`wrk -t1 -c${CONNECTIONS}\`, ${s.rounds} interleaved rounds of ${s.wrkSeconds} s per target; median req/s and median p50/p99 (ms) of the rounds.`,
    `Added p99: open loop at ${OPEN_LOOP_RPS} req/s (undici client in the benchmark process), ${s.openLoopRounds} interleaved rounds of ${s.openLoopMs / 1000} s per target; each round's p99 through the proxy minus that round's p99 direct, median over the rounds, ms (one proxy = one hop). In brackets: the median p99 itself and the rounds' range.`,
    'RSS: VmRSS of the proxy\'s process tree, highest sampled under wrk load / VmHWM at the end (MiB). CPU: utime + stime of the tree over the wrk runs per 1,000 requests.',
    `wrk, the proxy and the backend share the machine's ${cpus().length} cores, so the proxies' figures include contention for them; the direct row is the backend's own ceiling. Load average (1 min) ${s.load.map((l) => l.toFixed(2)).join(' before, ')} after the run: anything above ~1 means other work competed for the cores.`,
    `Versions: ${versions.join('; ')}.`,
    '',
    '| target | req/s | × nginx | p50 ms | p99 ms | added p99 @ 1k req/s, ms | RSS MB (load / peak) | CPU s / 1k req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(line),
    '',
    '| sidecar target | goal | measured | |',
    '| --- | --- | --- | --- |',
    ...targetRows,
    ...(notes.length + problems.length > 0 || stale ? ['', ...notes, ...problems, ...(stale ? [stale] : [])] : []),
  ].join('\n');
}

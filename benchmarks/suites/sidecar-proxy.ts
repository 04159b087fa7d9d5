/**
 * mesh-sidecar as a proxy, against the floor (a bare Node proxy doing the same job with nothing else:
 * benchmarks/floors/bare-proxy.mjs, on undici's Pool.dispatch and on Pool.request) and the proxies
 * people would otherwise put in the same place: nginx and HAProxy (from Debian) and node-http-proxy,
 * all forwarding to one backend in the same run.
 *
 *   throughput, p50/p99   wrk -t1 -c32 per target, in interleaved rounds (order reversed every other
 *                         round) so that machine drift affects every target alike
 *   added p99 at 1k rps   open loop at 1000 req/s through each proxy and straight to the backend;
 *                         p99(proxy) − p99(direct) is the cost of one hop at a realistic load, which a
 *                         saturating closed-loop run cannot show
 *   RSS, CPU s / 1k req   /proc of each proxy's process tree, sampled during and after the wrk runs,
 *                         and during the open-loop runs (a steady 1k req/s)
 *
 * Targets, against the floor: sidecar ≥ 0.85× the bare Pool.dispatch proxy's req/s and ≥ 1.3×
 * node-http-proxy's, CPU per 1,000 requests ≤ 1.2× the bare proxy's, added p99 at 1k req/s within
 * 0.2 ms of the bare proxy's, RSS at a steady 1k req/s ≤ 70 MB.
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
import { Children, ensureTools, SIDECAR_MAIN, startBareProxy, startHaproxy, startNginx, startNodeHttpProxy, startSidecar, type Target } from '../lib/proxy-targets.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';
import type { SuiteResult } from './retry-amplification.js';

/** The sidecar routes by Host; every other target gets the same header so requests are identical. */
const SERVICE = 'bench';
const BODY = '{"reviews":[{"id":1,"stars":5}],"ok":true}';
const CONNECTIONS = 32;
const OPEN_LOOP_RPS = 1000;

const TARGETS = {
  throughputVsFloor: 0.85,
  throughputVsNodeHttpProxy: 1.3,
  cpuVsFloor: 1.2,
  addedP99VsFloorMs: 0.2,
  rssAt1kMb: 70,
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
  /** Highest RSS sampled during the open-loop runs (1k req/s). */
  rssAt1kMb: number;
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
  const title = '### Sidecar proxy: mesh-sidecar against the bare Node proxy, nginx, HAProxy and node-http-proxy';
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

  const labels = ['direct (no proxy)', 'nginx', 'HAProxy', 'node-http-proxy', 'bare Node proxy (Pool.dispatch)', 'bare Node proxy (Pool.request)', 'mesh-sidecar'];
  const rows: Row[] = labels.map((label) => ({
    label,
    wrk: [],
    cpuS: 0,
    requests: 0,
    wrkErrors: 0,
    rssUnderLoadMb: 0,
    rssAt1kMb: 0,
    peakMb: 0,
    openLoopRoundP99: [],
    openLoopFailed: 0,
  }));
  const [direct, nginxRow, haproxyRow, nodeProxyRow, floorRow, floorRequestRow, sidecarRow] = rows as [Row, Row, Row, Row, Row, Row, Row];
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
    await start(floorRow, () => startBareProxy(children, backendPort, 'dispatch'));
    await start(floorRequestRow, () => startBareProxy(children, backendPort, 'request'));
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
        const tree = row.direct ? [] : processTree(row.target!.pid);
        const sampler = setInterval(() => (row.rssAt1kMb = Math.max(row.rssAt1kMb, memory(tree).rssMb)), 250);
        try {
          const result = await openLoop(OPEN_LOOP_RPS, openLoopMs, send(row));
          row.openLoopRoundP99.push(percentile(result.latencies, 99));
          row.openLoopFailed += result.failed;
        } finally {
          clearInterval(sampler);
        }
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
  const [direct, nginxRow, , nodeProxyRow, floorRow, , sidecarRow] = rows as [Row, Row, Row, Row, Row, Row, Row];
  const measured = (r: Row) => r.wrk.length > 0;
  const rps = (r: Row) => median(r.wrk.map((w) => w.rps));
  const p99At1k = (r: Row) => median(r.openLoopRoundP99);
  // Paired by round, so that a noisy round moves the proxy and the direct figure together.
  const perRoundAdded = (r: Row) => r.openLoopRoundP99.map((p, i) => p - (direct.openLoopRoundP99[i] ?? NaN)).filter(Number.isFinite);
  const added = (r: Row) => median(perRoundAdded(r));
  const cpuPer1k = (r: Row) => r.cpuS / (r.requests / 1000);
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
    if (!measured(r)) return `| ${r.label} | skipped: ${r.skipped ?? 'not measured'} | | | | | | | |`;
    const ratio = measured(nginxRow) ? `${(rps(r) / rps(nginxRow)).toFixed(2)}×` : '—';
    const floorRatio = measured(floorRow) ? `${(rps(r) / rps(floorRow)).toFixed(2)}×` : '—';
    const mem = r.direct ? '—' : `${fixed(r.rssAt1kMb, 1)} / ${fixed(r.rssUnderLoadMb, 1)} / ${fixed(r.peakMb, 1)}`;
    const cpu = r.direct ? '—' : cpuPer1k(r).toFixed(3);
    const label = r.skipped ? `${r.label} (later failed: ${r.skipped})` : r.label;
    return `| ${label} | ${Math.round(rps(r)).toLocaleString('en-US')} | ${floorRatio} | ${ratio} | ${fixed(median(r.wrk.map((w) => w.p50Ms)), 2)} | ${fixed(median(r.wrk.map((w) => w.p99Ms)), 2)} | ${addedCell(r)} | ${mem} | ${cpu} |`;
  };

  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : '**NOT met**');
  const sidecarOk = measured(sidecarRow);
  const floorOk = measured(floorRow);
  const why = (r: Row) => `${r.label} not measured${r.skipped ? `: ${r.skipped}` : ''}`;
  const both = (other: Row) => (sidecarOk && measured(other) ? undefined : why(sidecarOk ? other : sidecarRow));
  const vsFloor = rps(sidecarRow) / rps(floorRow);
  const vsNode = rps(sidecarRow) / rps(nodeProxyRow);
  const cpuVsFloor = cpuPer1k(sidecarRow) / cpuPer1k(floorRow);
  const addedVsFloor = median(sidecarRow.openLoopRoundP99.map((p, i) => p - (floorRow.openLoopRoundP99[i] ?? NaN)).filter(Number.isFinite));
  const cell = (missing: string | undefined, text: string, ok: boolean) => `${missing ?? text} | ${verdict(missing === undefined ? ok : undefined)}`;
  const targetRows = [
    `| throughput vs the bare Pool.dispatch proxy | ≥ ${TARGETS.throughputVsFloor}× | ${cell(both(floorRow), `${vsFloor.toFixed(2)}×`, vsFloor >= TARGETS.throughputVsFloor)} |`,
    `| throughput vs node-http-proxy | ≥ ${TARGETS.throughputVsNodeHttpProxy}× | ${cell(both(nodeProxyRow), `${vsNode.toFixed(2)}×`, vsNode >= TARGETS.throughputVsNodeHttpProxy)} |`,
    `| CPU per 1,000 requests vs the bare proxy | ≤ ${TARGETS.cpuVsFloor}× | ${cell(both(floorRow), `${cpuVsFloor.toFixed(2)}× (${cpuPer1k(sidecarRow).toFixed(3)} s against ${cpuPer1k(floorRow).toFixed(3)} s)`, cpuVsFloor <= TARGETS.cpuVsFloor)} |`,
    `| added p99 at ${OPEN_LOOP_RPS} req/s, over the bare proxy's | ≤ ${TARGETS.addedP99VsFloorMs} ms | ${cell(both(floorRow), `${signed(addedVsFloor, 3)} ms`, addedVsFloor <= TARGETS.addedP99VsFloorMs)} |`,
    `| RSS at a steady ${OPEN_LOOP_RPS} req/s | ≤ ${TARGETS.rssAt1kMb} MB | ${cell(sidecarOk ? undefined : why(sidecarRow), `${sidecarRow.rssAt1kMb.toFixed(1)} MB`, sidecarRow.rssAt1kMb <= TARGETS.rssAt1kMb)} |`,
    `| RSS at saturation, next to the bare proxy's | (context) | ${sidecarOk && floorOk ? `${sidecarRow.rssUnderLoadMb.toFixed(1)} MB against ${floorRow.rssUnderLoadMb.toFixed(1)} MB` : why(sidecarOk ? floorRow : sidecarRow)} | |`,
  ];

  const problems = rows
    .filter((r) => r.wrkErrors > 0 || r.openLoopFailed > 0)
    .map((r) => `**${r.label}: ${r.wrkErrors} wrk errors (non-2xx or socket), ${r.openLoopFailed} failed open-loop requests**; its figures include them.`);
  const stale = staleBuildNote();
  const versions = [version(s.wrk, '-v')?.replace(/ \[.*$/, ''), version(s.nginx, '-v')?.replace(/^nginx version: /, ''), version(s.haproxy, '-v')?.replace(/ \d{4}\/.*$/, ''), `http-proxy ${(createRequire(import.meta.url)('http-proxy/package.json') as { version: string }).version}`, `Node ${process.version}`].filter(Boolean);

  return [
    '### Sidecar proxy: mesh-sidecar against the bare Node proxy, nginx, HAProxy and node-http-proxy',
    '',
    `One backend (node:http in a child process, ${Buffer.byteLength(BODY)}-byte body) on 127.0.0.1; every proxy forwards to it over keep-alive upstream connections with one worker: the bare Node proxies (benchmarks/floors/bare-proxy.mjs: node:http + undici, hop-by-hop headers dropped, nothing else), nginx \`worker_processes 1\` + \`keepalive 64\`, HAProxy \`nbthread 1\` + \`http-reuse always\`, node-http-proxy with a keep-alive agent, mesh-sidecar with one service (its default stack) selected by \`Host: ${SERVICE}\`.`,
    `Throughput and latency: \`wrk -t1 -c${CONNECTIONS}\`, ${s.rounds} interleaved rounds of ${s.wrkSeconds} s per target; median req/s and median p50/p99 (ms) of the rounds.`,
    `Added p99: open loop at ${OPEN_LOOP_RPS} req/s (undici client in the benchmark process), ${s.openLoopRounds} interleaved rounds of ${s.openLoopMs / 1000} s per target; each round's p99 through the proxy minus that round's p99 direct, median over the rounds, ms (one proxy = one hop). In brackets: the median p99 itself and the rounds' range.`,
    'RSS: VmRSS of the proxy\'s process tree, highest sampled at a steady 1k req/s / under wrk load / VmHWM at the end (MiB). CPU: utime + stime of the tree over the wrk runs per 1,000 requests.',
    `wrk, the proxy and the backend share the machine's ${cpus().length} cores, so the proxies' figures include contention for them; the direct row is the backend's own ceiling. Load average (1 min) ${s.load.map((l) => l.toFixed(2)).join(' before, ')} after the run: anything above ~1 means other work competed for the cores.`,
    `Versions: ${versions.join('; ')}.`,
    '',
    '| target | req/s | × bare proxy | × nginx | p50 ms | p99 ms | added p99 @ 1k req/s, ms | RSS MB (1k req/s / load / peak) | CPU s / 1k req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(line),
    '',
    '| sidecar target | goal | measured | |',
    '| --- | --- | --- | --- |',
    ...targetRows,
    ...(notes.length + problems.length > 0 || stale ? ['', ...notes, ...problems, ...(stale ? [stale] : [])] : []),
  ].join('\n');
}

/**
 * Hedged requests against replicas with a heavy tail: three replicas answering in about 5 ms, each
 * request 10× slower with probability 2%, drawn independently per replica and attempt. Without
 * hedging that 2% is the p99; with a backup after the route's p95 a slow attempt costs about p95
 * plus one more fast answer, for about 5% more requests upstream ("The Tail at Scale").
 *
 * Then the cases where a backup cannot help, where what matters is what it costs:
 * - the request itself is slow (2% of requests 10× slower on every replica): the backup is as slow;
 * - every replica turns 10× slower at once: until the route's percentile catches up, every request
 *   outlasts the old p95 and would get a backup; the retry budget caps them (retryRatio of the
 *   traffic plus its floor, after the reserve), shown against hedging with an unlimited budget.
 *
 * Open loop (requests start on schedule whatever the answers do), backends in a child process.
 */
import { meshClient, type MeshClientOptions } from '../../src/index.js';
import { startFleet, type BackendFleet } from '../lib/latency-backends.js';
import { openLoop, percentile, type OpenLoopResult } from '../lib/open-loop.js';

export interface SuiteResult {
  name: string;
  markdown: string;
}

const REPLICAS = 3;
const BASE_MS = 5;
const RPS = 200;
const ROUTES = [{ name: 'read', condition: { method: 'GET' }, isIdempotent: true }];

interface Measured {
  run: OpenLoopResult;
  attempts: number;
  counters: Record<string, number>;
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const seconds = options.quick ? 6 : 20;
  const warmMs = 2_000;
  const fleet = await startFleet(REPLICAS, BASE_MS);
  const endpoints = fleet.ports.map((port) => `127.0.0.1:${port}`);
  const client = (extra: Partial<MeshClientOptions>) => meshClient('replicas', { endpoints, routes: ROUTES, circuitBreaker: false, outlierDetection: false, ...extra });
  const hedged = { hedging: { percentile: 95 } };
  try {
    const setAll = (change: Parameters<BackendFleet['set']>[1]) => Promise.all(endpoints.map((_, i) => fleet.set(i, change)));

    // Independent heavy tails.
    await setAll({ tailPercent: 2, tailFactor: 10 });
    const independentOff = await measure(fleet, client({}), warmMs, seconds * 1000);
    const independentOn = await measure(fleet, client(hedged), warmMs, seconds * 1000);

    // The request itself is slow, on whichever replica: the same 2%, marked by the caller.
    await setAll({});
    const expensive = () => (Math.random() < 0.02 ? { 'x-bench-slow': '10' } : undefined);
    const correlatedOff = await measure(fleet, client({}), warmMs, seconds * 1000, expensive);
    const correlatedOn = await measure(fleet, client(hedged), warmMs, seconds * 1000, expensive);

    // Every replica 10× slower at once, after a normal warm-up that set the percentile.
    const slowMs = options.quick ? 3_000 : 5_000;
    const fleetSlow = async (extra: Partial<MeshClientOptions>) => {
      await setAll({});
      return measure(fleet, client(extra), warmMs, slowMs, undefined, () => setAll({ factor: 10 }));
    };
    const slowOff = await fleetSlow({});
    const slowBudget = await fleetSlow(hedged);
    const slowUnlimited = await fleetSlow({ ...hedged, retries: { budget: { retryRatio: 1_000, minRetriesPerSecond: 1_000 } } });

    return {
      name: 'hedging',
      markdown: [
        '### Hedged requests',
        '',
        `${REPLICAS} replicas answering in ${BASE_MS} ms ±20% (a child process), p2c-ewma, ${RPS} requests/s offered (open loop),`,
        `${seconds} s measured after ${warmMs / 1000} s of warm-up that fills the route's latency window. Hedging: a backup after the route's`,
        'observed p95, paid from the service retry budget (default: 20% of requests plus 10/s, 100 in reserve).',
        '',
        '| case | hedging | requests | p50 | p99 | p99.9 | max | upstream attempts / request | backups sent | backups won | refused by the budget |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        row('independent tails: 2% of attempts 10× slow, per replica', 'off', independentOff),
        row('', 'p95', independentOn),
        row('the request is slow: 2% of requests 10× slow on every replica', 'off', correlatedOff),
        row('', 'p95', correlatedOn),
        row(`every replica 10× slower at once (first ${slowMs / 1000} s)`, 'off', slowOff),
        row('', 'p95, service budget', slowBudget),
        row('', 'p95, unlimited budget', slowUnlimited),
        '',
        'Attempts per request above 1 is the extra load hedging puts on the replicas; with independent',
        'tails it should be about 1 − 0.95 plus the backups the budget allows.',
      ].join('\n'),
    };
  } finally {
    fleet.stop();
  }
}

/**
 * Warm-up load (not counted), then the measured run; `atStart` runs as the measured run begins
 * (the fleet-wide slowdown). Attempts are the fleet's hit count over the measured run.
 */
async function measure(fleet: BackendFleet, client: ReturnType<typeof meshClient>, warmMs: number, ms: number, headers?: () => Record<string, string> | undefined, atStart?: () => Promise<unknown>): Promise<Measured> {
  const send = async () => {
    const res = await client.request({ method: 'GET', path: '/', headers: headers?.() });
    await res.body.dump();
    return res.statusCode === 200;
  };
  try {
    await openLoop(RPS, warmMs, send);
    await fleet.resetHits();
    const before = { ...client.counters() };
    await atStart?.();
    const run = await openLoop(RPS, ms, send);
    const attempts = (await fleet.hits()).reduce((a, b) => a + b, 0);
    const after = client.counters();
    const counters = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
    return { run, attempts, counters };
  } finally {
    await client.close();
  }
}

function row(label: string, hedging: string, m: Measured): string {
  const { run } = m;
  const ms = (p: number) => `${percentile(run.latencies, p).toFixed(1)} ms`;
  const failed = run.failed > 0 ? ` (${run.failed} failed)` : '';
  return `| ${label} | ${hedging} | ${run.sent}${failed} | ${ms(50)} | ${ms(99)} | ${ms(99.9)} | ${ms(100)} | ${(m.attempts / run.sent).toFixed(3)} | ${m.counters.hedges_total ?? 0} | ${m.counters.hedge_wins_total ?? 0} | ${m.counters.hedge_budget_exhausted_total ?? 0} |`;
}

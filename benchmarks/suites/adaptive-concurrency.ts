/**
 * Adaptive concurrency against a backend of fixed capacity (4 workers × 20 ms: 200 requests/s,
 * with an unbounded queue behind them): offered load steps from 60% of capacity to 150% and back,
 * open loop, and each client policy is judged by what the callers get: goodput (answers within
 * the 1 s timeout, per second), the p99 of the requests that were let through, how soon after the
 * step up requests are refused (time to shed), and how soon after the step down every request is
 * answered again (time to recover).
 *
 * Without a limit the backend's queue grows for as long as the overload lasts; callers time out,
 * the workers go on serving answers nobody waits for, and the backlog has to drain after the load
 * drops. A fixed limit works if someone guessed the backend's capacity; Gradient2 finds it from the
 * latency.
 */
import { isMeshError, meshClient, type MeshClientOptions } from '../../src/index.js';
import { startCapacityBackend } from '../lib/capacity-backend.js';
import { percentile } from '../lib/open-loop.js';

export interface SuiteResult {
  name: string;
  markdown: string;
}

const WORKERS = 4;
const SERVICE_MS = 20;
const CAPACITY_RPS = (WORKERS * 1000) / SERVICE_MS;
const BUCKET_MS = 250;

type Kind = 'ok' | 'refused' | 'timeout' | 'error';

interface Outcome {
  startedAt: number;
  latencyMs: number;
  kind: Kind;
}

interface Phase {
  rps: number;
  ms: number;
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const scale = options.quick ? 0.5 : 1;
  const phases: Phase[] = [
    { rps: CAPACITY_RPS * 0.6, ms: 6_000 * scale },
    { rps: CAPACITY_RPS * 1.5, ms: 10_000 * scale },
    { rps: CAPACITY_RPS * 0.6, ms: 14_000 * scale },
  ];
  const backend = await startCapacityBackend(WORKERS, SERVICE_MS);
  const policies: [string, Partial<MeshClientOptions>][] = [
    ['no limit', {}],
    ['fixed limit 8 (tuned: 2 × workers)', { limits: { maxConcurrency: 8 } }],
    ['fixed limit 50 (a guess)', { limits: { maxConcurrency: 50 } }],
    ['adaptive, Gradient2 defaults', { limits: { adaptive: true } }],
    ['adaptive, Gradient2, minLimit 1', { limits: { adaptive: { minLimit: 1 } } }],
  ];
  const rows: string[] = [];
  try {
    for (const [label, policy] of policies) {
      const client = meshClient('capacity', {
        endpoints: [`127.0.0.1:${backend.port}`],
        timeout: '1s',
        retries: false,
        circuitBreaker: false,
        outlierDetection: false,
        connection: { connections: 512 },
        ...policy,
      });
      const send = async () => {
        const res = await client.request({ method: 'GET', path: '/' });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      };
      try {
        const { outcomes, phaseStarts } = await steppedLoad(phases, send);
        rows.push(describe(label, outcomes, phaseStarts, phases));
      } finally {
        await client.close();
      }
      // Let the backend's queue drain before the next policy.
      await new Promise((r) => setTimeout(r, 2_000));
    }
  } finally {
    backend.stop();
  }
  return {
    name: 'adaptive-concurrency',
    markdown: [
      '### Adaptive concurrency',
      '',
      `A backend of ${WORKERS} workers × ${SERVICE_MS} ms (${CAPACITY_RPS} requests/s) with an unbounded queue, in a child process.`,
      `Offered load (open loop): ${phases.map((p) => `${p.rps} requests/s for ${p.ms / 1000} s`).join(', then ')}. Client timeout 1 s, no retries.`,
      `Goodput: answers per second within the timeout. Time to shed: from the step up to the first request refused. Time to recover:`,
      `from the step down to the end of the last ${BUCKET_MS} ms (of start times) in which a tenth or more of the requests were refused or timed out.`,
      '',
      '| client policy | goodput before / overload / after (req/s) | p99 of accepted before / overload / after | refused in overload | timed out in overload | refused or timed out after | time to shed | time to recover |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n'),
  };
}

/** Open-loop load stepping through the phases; each request's start time (from the first) and outcome. */
async function steppedLoad(phases: Phase[], send: () => Promise<void>): Promise<{ outcomes: Outcome[]; phaseStarts: number[] }> {
  const outcomes: Outcome[] = [];
  const pending: Promise<void>[] = [];
  const phaseStarts: number[] = [];
  const origin = performance.now();
  for (const phase of phases) {
    const phaseStarted = performance.now();
    phaseStarts.push(phaseStarted - origin);
    let sent = 0;
    while (performance.now() - phaseStarted < phase.ms) {
      const due = Math.floor(((performance.now() - phaseStarted) * phase.rps) / 1000) + 1;
      while (sent < due) {
        sent++;
        const t0 = performance.now();
        const record = (kind: Kind) => {
          outcomes.push({ startedAt: t0 - origin, latencyMs: performance.now() - t0, kind });
        };
        pending.push(
          send().then(
            () => record('ok'),
            (err: unknown) => record(isMeshError(err, 'CONCURRENCY_LIMITED') ? 'refused' : isMeshError(err, 'TIMEOUT') ? 'timeout' : 'error'),
          ),
        );
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  await Promise.all(pending);
  return { outcomes, phaseStarts };
}

function describe(label: string, outcomes: Outcome[], starts: number[], phases: Phase[]): string {
  const buckets = (from: number, to: number) => {
    const list: Outcome[][] = [];
    for (let t = from; t + BUCKET_MS <= to; t += BUCKET_MS) list.push(outcomes.filter((o) => o.startedAt >= t && o.startedAt < t + BUCKET_MS));
    return list;
  };
  const ends = [...starts.slice(1), starts[starts.length - 1]! + phases[phases.length - 1]!.ms];
  const inPhase = (i: number) => outcomes.filter((o) => o.startedAt >= starts[i]! && o.startedAt < ends[i]!);
  const p99Accepted = (i: number) => {
    const ok = inPhase(i).filter((o) => o.kind === 'ok').map((o) => o.latencyMs).sort((a, b) => a - b);
    return ok.length === 0 ? 'none' : `${percentile(ok, 99).toFixed(0)}`;
  };
  const goodput = (i: number) => (inPhase(i).filter((o) => o.kind === 'ok' && o.latencyMs <= 1_000).length / ((ends[i]! - starts[i]!) / 1000)).toFixed(0);
  const overload = inPhase(1);
  const share = (kind: Kind) => `${((100 * overload.filter((o) => o.kind === kind).length) / overload.length).toFixed(0)}%`;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const refusedAt = overload.filter((o) => o.kind === 'refused').map((o) => o.startedAt);
  const shed = refusedAt.length === 0 ? 'never' : seconds(Math.min(...refusedAt) - starts[1]!);
  // The end of the last bucket after the step down in which a tenth or more of the requests were
  // refused or timed out: an isolated refusal (a pause of the shared machine) is not a failure to recover.
  const after = buckets(starts[2]!, ends[2]!);
  let lastBad = -1;
  after.forEach((bucket, i) => {
    if (bucket.filter((o) => o.kind !== 'ok').length >= Math.max(1, bucket.length / 10)) lastBad = i;
  });
  const recover = lastBad === after.length - 1 ? `not within ${seconds(ends[2]! - starts[2]!)}` : seconds((lastBad + 1) * BUCKET_MS);
  const refusedAfter = inPhase(2).filter((o) => o.kind !== 'ok').length;
  return `| ${label} | ${goodput(0)} / ${goodput(1)} / ${goodput(2)} | ${p99Accepted(0)} / ${p99Accepted(1)} / ${p99Accepted(2)} ms | ${share('refused')} | ${share('timeout')} | ${refusedAfter} | ${shed} | ${recover} |`;
}

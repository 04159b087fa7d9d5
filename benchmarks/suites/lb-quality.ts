/**
 * Load-balancer quality, a scaled-down version of Linkerd's "Beyond Round Robin: Load Balancing for
 * Latency" (2016) experiment: 11 backends, one of which becomes 10× slower for the middle third of
 * the run. Each balancer gets the same open-loop traffic; we compare latency percentiles and the
 * success rate under a request timeout, against an all-healthy run.
 */
import { meshClient, type BalancerKind } from '../../src/index.js';
import { startFleet } from '../lib/latency-backends.js';
import { openLoop, percentile, type OpenLoopResult } from '../lib/open-loop.js';
import type { SuiteResult } from './retry-amplification.js';

const BACKENDS = 11;
const BASE_MS = 10;
const TIMEOUT = '200ms';

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const rps = 300;
  const durationMs = options.quick ? 6_000 : 15_000;
  const fleet = await startFleet(BACKENDS, BASE_MS);
  const endpoints = fleet.ports.map((p) => `127.0.0.1:${p}`);
  const runOne = async (balancer: BalancerKind, degrade: boolean): Promise<OpenLoopResult> => {
    const client = meshClient('lb', { endpoints, balancer, timeout: TIMEOUT, retries: false, circuitBreaker: false, outlierDetection: false });
    await fleet.set(0, { factor: 1 });
    // Warm the connections so the first requests do not measure TCP handshakes.
    await openLoop(rps, 1_000, async () => (await (await client.request({ path: '/' })).body.dump(), true));
    let phase = 0;
    const result = await openLoop(
      rps,
      durationMs,
      async () => {
        const res = await client.request({ path: '/' });
        await res.body.dump();
        return res.statusCode < 500;
      },
      (elapsed) => {
        const want = !degrade ? 0 : elapsed < durationMs / 3 ? 0 : elapsed < (2 * durationMs) / 3 ? 1 : 2;
        if (want !== phase) {
          phase = want;
          void fleet.set(0, { factor: phase === 1 ? 10 : 1 });
        }
      },
    );
    await fleet.set(0, { factor: 1 });
    await client.close();
    return result;
  };
  const rows: string[] = [];
  try {
    const healthy = await runOne('p2c-ewma', false);
    const healthyP999 = percentile(healthy.latencies, 99.9);
    const line = (label: string, r: OpenLoopResult, target?: string) =>
      `| ${label} | ${percentile(r.latencies, 50).toFixed(1)} | ${percentile(r.latencies, 99).toFixed(1)} | ${percentile(r.latencies, 99.9).toFixed(1)} | ${((100 * r.ok) / r.sent).toFixed(2)}% | ${(percentile(r.latencies, 99.9) / healthyP999).toFixed(2)}× | ${target ?? ''} |`;
    rows.push(line('all healthy (p2c-ewma)', healthy, 'baseline'));
    for (const balancer of ['round-robin', 'p2c-least-request', 'p2c-ewma'] as BalancerKind[]) {
      const r = await runOne(balancer, true);
      const ratio = percentile(r.latencies, 99.9) / healthyP999;
      rows.push(line(`one slow: ${balancer}`, r, balancer === 'p2c-ewma' ? `≤ 1.20× — ${ratio <= 1.2 ? 'met' : 'NOT met'}` : undefined));
    }
  } finally {
    fleet.stop();
  }
  return {
    name: 'lb-quality',
    markdown: [
      '### Balancer quality with one slow backend ("Beyond Round Robin", scaled)',
      '',
      `${BACKENDS} backends answering in ${BASE_MS} ms ±20%; backend 0 turns 10× slower for the middle third of a ${durationMs / 1000} s run; ${rps} requests/s offered (open loop), ${TIMEOUT} timeout, no retries. Latency in ms.`,
      'Target: peak-EWMA p99.9 ≤ 1.2× the all-healthy p99.9.',
      '',
      '| run | p50 | p99 | p99.9 | success | p99.9 / healthy | target |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
    ].join('\n'),
  };
}

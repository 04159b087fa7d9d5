/**
 * Retry amplification under total failure: a backend answering 503 to everything, a fixed offered
 * load, and how many upstream attempts each client policy makes per client request. A retry budget
 * (Finagle, Linkerd) bounds the extra load at retryRatio plus a small floor; a naive "retry 3 times"
 * policy quadruples the load on a service that is already down, which is how retry storms start.
 */
import pRetry from 'p-retry';
import { Pool } from 'undici';
import { meshClient } from '../../src/index.js';
import { startFleet } from '../lib/latency-backends.js';
import { openLoop } from '../lib/open-loop.js';

export interface SuiteResult {
  name: string;
  markdown: string;
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const rps = 200;
  // The budget's bound holds per ttl window (10 s): it starts with minRetriesPerSecond × ttl in
  // reserve, so the first window may spend that reserve at once. The run is long enough to show the
  // steady state after it, which is what the target describes, and both figures are reported.
  const seconds = options.quick ? 14 : 30;
  const ttlMs = 10_000;
  const fleet = await startFleet(1, 1);
  await fleet.set(0, { status: 503 });
  const address = `127.0.0.1:${fleet.ports[0]}`;
  const rows: string[] = [];
  try {
    // meshwork, default budget: retryRatio 0.2, minRetriesPerSecond 10, ttl 10 s.
    const mesh = meshClient('failing', { endpoints: [address], circuitBreaker: false, outlierDetection: false, retries: { backoff: { base: 5, max: 20 } } });
    await fleet.resetHits();
    let meshSent = 0;
    let atTtl: Promise<{ sent: number; attempts: number }> | undefined;
    const meshRun = await openLoop(
      rps,
      seconds * 1000,
      async () => {
        meshSent++;
        const res = await mesh.request({ path: '/' });
        await res.body.dump();
        return res.statusCode < 500;
      },
      (elapsed) => {
        if (elapsed >= ttlMs && atTtl === undefined) {
          const sent = meshSent;
          atTtl = fleet.hits().then((h) => ({ sent, attempts: h[0]! }));
        }
      },
    );    const meshAttempts = (await fleet.hits())[0]!;
    await mesh.close();

    // The naive policy: p-retry's 3 retries with its default-shaped backoff, around raw undici.
    const pool = new Pool(`http://${address}`, { connections: 64 });
    await fleet.resetHits();
    const naiveRun = await openLoop(rps, seconds * 1000, async () => {
      try {
        await pRetry(
          async () => {
            const res = await pool.request({ method: 'GET', path: '/' });
            await res.body.dump();
            if (res.statusCode >= 500) throw new Error(`status ${res.statusCode}`);
          },
          { retries: 3, minTimeout: 5, maxTimeout: 20 },
        );
        return true;
      } catch {
        return false;
      }
    });
    const naiveAttempts = (await fleet.hits())[0]!;
    await pool.close();

    const target = 1.2 + 10 / rps; // 1.2× plus minRetriesPerSecond spread over the offered rate
    const first = await atTtl!;
    const meshRatio = meshAttempts / meshRun.sent;
    const steadyRatio = (meshAttempts - first.attempts) / (meshRun.sent - first.sent);
    const naiveRatio = naiveAttempts / naiveRun.sent;
    rows.push(
      `| meshwork retry budget (0.2, 10/s, 10 s), whole run incl. first ttl window | ${meshRun.sent} | ${meshAttempts} | ${meshRatio.toFixed(3)}× | — | reserve spent in the first window |`,
      `| meshwork retry budget, steady state (after the first ttl) | ${meshRun.sent - first.sent} | ${meshAttempts - first.attempts} | **${steadyRatio.toFixed(3)}×** | ≤ ${target.toFixed(3)}× | ${steadyRatio <= target ? 'met' : 'NOT met'} |`,
      `| naive: p-retry, 3 retries | ${naiveRun.sent} | ${naiveAttempts} | ${naiveRatio.toFixed(3)}× | — | — |`,
    );
    return {
      name: 'retry-amplification',
      markdown: [
        `### Retry amplification under total failure`,
        '',
        `One backend answering 503 to every request; ${rps} requests/s offered for ${seconds} s (open loop).`,
        `Target: upstream attempts per client request ≤ 1.2× plus minRetriesPerSecond (10/s at ${rps}/s = +${(10 / rps).toFixed(2)}).`,
        '',
        '| client policy | client requests | upstream attempts | attempts / request | target | |',
        '| --- | ---: | ---: | ---: | ---: | --- |',
        ...rows,
      ].join('\n'),
    };
  } finally {
    fleet.stop();
  }
}

/**
 * The cost of the mesh on the hot path: the same local backend (in a child process, answering at
 * once with a 43-byte body) driven with 32 requests in flight through four clients, interleaved in
 * rounds so that machine drift affects all of them alike:
 *   A. raw undici Pool.request           (baseline for meshClient.request)
 *   B. meshClient.request, default stack
 *   C. undici fetch through the mesh dispatcher
 *   D. plain undici fetch with an Agent   (baseline for C)
 * Targets: B ≥ 0.95× A and C ≥ 0.95× D, in throughput. The client's own CPU per request (this
 * process's user + system time over each variant's rounds) is reported beside it: the backend and
 * the client share the machine's cores, so throughput moves with contention while CPU per request
 * says what the mesh itself costs.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Agent, fetch, Pool } from 'undici';
import { meshClient } from '../../src/index.js';
import { startFleet } from '../lib/latency-backends.js';
import type { SuiteResult } from './retry-amplification.js';

const IN_FLIGHT = 32;

interface Variant {
  label: string;
  send(): Promise<void>;
  rates: number[];
  histogram: RecordableHistogram;
  /** CPU µs of this process and requests completed, summed over the measured rounds. */
  cpuUs: number;
  requests: number;
}

async function drive(variant: Variant | undefined, send: () => Promise<void>, ms: number): Promise<number> {
  let done = 0;
  const cpu0 = process.cpuUsage();
  const stopAt = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const t0 = process.hrtime.bigint();
      await send();
      variant?.histogram.record(Number(process.hrtime.bigint() - t0) || 1);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsed = (performance.now() - started) / 1000;
  if (variant) {
    const cpu = process.cpuUsage(cpu0);
    variant.cpuUs += cpu.user + cpu.system;
    variant.requests += done;
  }
  return done / elapsed;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const fleet = await startFleet(1, 0);
  const address = `127.0.0.1:${fleet.ports[0]}`;
  const pool = new Pool(`http://${address}`, { connections: 64 });
  const mesh = meshClient('bench', { endpoints: [address] });
  const agent = new Agent({ connections: 64 });
  const variants: Variant[] = [
    {
      label: 'raw undici Pool.request',
      send: async () => {
        const res = await pool.request({ method: 'GET', path: '/' });
        await res.body.dump();
      },
    },
    {
      label: 'meshClient.request (default stack)',
      send: async () => {
        const res = await mesh.request({ method: 'GET', path: '/' });
        await res.body.dump();
      },
    },
    {
      label: 'undici fetch through mesh.dispatcher',
      send: async () => {
        const res = await fetch('http://bench/', { dispatcher: mesh.dispatcher });
        await res.arrayBuffer();
      },
    },
    {
      label: 'plain undici fetch',
      send: async () => {
        const res = await fetch(`http://${address}/`, { dispatcher: agent });
        await res.arrayBuffer();
      },
    },
  ].map((v) => ({ ...v, rates: [], histogram: createHistogram(), cpuUs: 0, requests: 0 }));

  const rounds = options.quick ? 3 : 5;
  const windowMs = options.quick ? 1_500 : 4_000;
  try {
    for (const v of variants) await drive(undefined, v.send, options.quick ? 500 : 1_000);
    for (let round = 0; round < rounds; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) v.rates.push(await drive(v, v.send, windowMs));
    }
  } finally {
    await mesh.close();
    await pool.close();
    await agent.close();
    fleet.stop();
  }

  const [rawPool, meshRequest, meshFetch, plainFetch] = variants as [Variant, Variant, Variant, Variant];
  const us = (h: RecordableHistogram, p: number) => h.percentile(p) / 1000;
  const row = (v: Variant, baseline: Variant, target?: number) => {
    const ratio = median(v.rates) / median(baseline.rates);
    const verdict = target === undefined ? 'baseline' : `${ratio >= target ? 'met' : 'NOT met'} (≥ ${target.toFixed(2)}×)`;
    const overhead = v === baseline ? '' : ` (+${(us(v.histogram, 50) - us(baseline.histogram, 50)).toFixed(0)} / +${(us(v.histogram, 99) - us(baseline.histogram, 99)).toFixed(0)})`;
    const cpu = v.cpuUs / v.requests;
    const cpuBase = baseline.cpuUs / baseline.requests;
    const cpuCell = v === baseline ? `${cpu.toFixed(1)}` : `${cpu.toFixed(1)} (${(cpu / cpuBase).toFixed(2)}×)`;
    return `| ${v.label} | ${Math.round(median(v.rates)).toLocaleString('en-US')} | **${ratio.toFixed(3)}×** | ${cpuCell} | ${us(v.histogram, 50).toFixed(0)} / ${us(v.histogram, 99).toFixed(0)}${overhead} | ${verdict} |`;
  };
  return {
    name: 'client-throughput',
    markdown: [
      '### Client throughput: meshClient and the mesh dispatcher against raw undici',
      '',
      `One local backend in a child process; ${IN_FLIGHT} requests in flight; ${rounds} interleaved rounds of ${windowMs / 1000} s per client, median req/s reported.`,
      'CPU is this process\'s user + system time per request, µs (the client\'s own cost; the backend runs in another process), with the ratio to the baseline.',
      'Latency is per request, µs (p50 / p99), with the difference to the baseline in brackets.',
      '',
      '| client | req/s | ratio to baseline | client CPU µs / req | p50 / p99 µs | target (throughput) |',
      '| --- | ---: | ---: | ---: | ---: | --- |',
      row(rawPool, rawPool),
      row(meshRequest, rawPool, 0.95),
      row(plainFetch, plainFetch),
      row(meshFetch, plainFetch, 0.95),
    ].join('\n'),
  };
}

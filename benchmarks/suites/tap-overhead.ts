/**
 * What watching the mesh costs the requests it watches: the same local backend driven with 32
 * requests in flight through four meshes with the default stack, interleaved in rounds:
 *   A. no admin view: the request observer has no listener (the hook is a field read)
 *   B. an admin view (mesh.admin()): the stats windows record every request; no tap subscriber
 *   C. B plus a tap subscriber reading /api/tap over HTTP at the default limit (100 events/s)
 *   D. B plus a tap subscriber at the highest limit the config allows (10 000 events/s), each
 *      event copied out with its headers, serialized and written to the subscriber's connection
 * Ratios are to A.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { startFleet } from '../lib/latency-backends.js';
import { median } from './client-throughput.js';
import type { SuiteResult } from './retry-amplification.js';

const IN_FLIGHT = 32;

interface Variant {
  label: string;
  mesh: Mesh;
  rates: number[];
  histogram: RecordableHistogram;
  tapped: number;
}

async function drive(variant: Variant, ms: number, record: boolean): Promise<number> {
  let done = 0;
  const client = variant.mesh.client('bench');
  const stopAt = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const t0 = process.hrtime.bigint();
      const res = await client.request({ method: 'GET', path: '/bench?x=1', headers: { 'x-request-id': 'abc', authorization: 'Bearer not-shown' } });
      await res.body.dump();
      if (record) variant.histogram.record(Number(process.hrtime.bigint() - t0) || 1);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return done / ((performance.now() - started) / 1000);
}

/** Reads a tap stream to the end, counting the events, as `mesh-sidecar tap -o json` would. */
async function subscribe(url: string, variant: Variant, signal: AbortSignal): Promise<void> {
  const res = await request(url, { signal });
  res.body.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) variant.tapped++;
  });
  res.body.on('error', () => undefined);
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const fleet = await startFleet(1, 0);
  const address = `127.0.0.1:${fleet.ports[0]}`;
  const mesh = () => createMesh({ services: { bench: { endpoints: [address] } } });
  const variants: Variant[] = [
    { label: 'A. no admin view (observer idle)' },
    { label: 'B. admin view: stats windows, no tap' },
    { label: 'C. B + a tap subscriber, default limit (100/s)' },
    { label: 'D. B + a tap subscriber at the highest limit (10 000/s)' },
  ].map((v) => ({ ...v, mesh: mesh(), rates: [], histogram: createHistogram(), tapped: 0 }));
  const subscribers = new AbortController();
  const [, withStats, limited, everything] = variants as [Variant, Variant, Variant, Variant];
  await withStats.mesh.admin({ listen: 0 });
  const limitedAdmin = await limited.mesh.admin({ listen: 0, tap: true });
  const everythingAdmin = await everything.mesh.admin({ listen: 0, tap: { maxEventsPerSecond: 10_000 } });
  await subscribe(`${limitedAdmin.url}api/tap?format=ndjson`, limited, subscribers.signal);
  await subscribe(`${everythingAdmin.url}api/tap?format=ndjson`, everything, subscribers.signal);

  const rounds = options.quick ? 3 : 5;
  const windowMs = options.quick ? 1_500 : 4_000;
  try {
    for (const v of variants) await drive(v, options.quick ? 500 : 1_000, false);
    for (const v of variants) v.tapped = 0;
    for (let round = 0; round < rounds; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) v.rates.push(await drive(v, windowMs, true));
    }
  } finally {
    subscribers.abort();
    await Promise.all(variants.map((v) => v.mesh.close()));
    fleet.stop();
  }

  const baseline = variants[0]!;
  const us = (h: RecordableHistogram, p: number) => h.percentile(p) / 1000;
  const totalSeconds = (rounds * windowMs) / 1000;
  const row = (v: Variant) => {
    const ratio = median(v.rates) / median(baseline.rates);
    const tapped = v.tapped > 0 ? Math.round(v.tapped / totalSeconds).toLocaleString('en-US') : '-';
    return `| ${v.label} | ${Math.round(median(v.rates)).toLocaleString('en-US')} | **${ratio.toFixed(3)}×** | ${us(v.histogram, 50).toFixed(0)} / ${us(v.histogram, 99).toFixed(0)} | ${tapped} |`;
  };
  return {
    name: 'tap-overhead',
    markdown: [
      '### Watching the mesh: stats windows and tap',
      '',
      `meshClient.request through the default stack to one local backend; ${IN_FLIGHT} requests in flight; ${rounds} interleaved rounds of ${windowMs / 1000} s per variant, median req/s reported. The tap subscribers read /api/tap over loopback HTTP.`,
      '',
      '| variant | req/s | ratio to A | p50 / p99 µs | tap events/s delivered |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...variants.map(row),
    ].join('\n'),
  };
}

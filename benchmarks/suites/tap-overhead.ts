/**
 * What watching the mesh costs the requests it watches: the same local backend driven with 32
 * requests in flight through four meshes with the default stack, interleaved in rounds:
 *   A. no admin view: the request observer has no listener (the hook is a field read)
 *   B. an admin view (mesh.admin()): the stats windows record every request; no tap subscriber
 *   C. B plus a tap subscriber (curl, another process) at the default limit (100 events/s)
 *   D. B plus a tap subscriber at the highest limit the config allows (10 000 events/s), each
 *      event copied out with its headers, serialized and written to the subscriber's connection
 * Ratios are to A.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
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

/**
 * Reads a tap stream as `mesh-sidecar tap` would, from another process (curl), so that reading it
 * costs the measured process nothing; the events land in a file, counted at the end.
 */
function subscribe(url: string, file: string): ChildProcess {
  return spawn('curl', ['-sN', '-o', file, url], { stdio: 'ignore' });
}

function countEvents(file: string): number {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.startsWith('{"type":"request"')).length;
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
  const [, withStats, limited, everything] = variants as [Variant, Variant, Variant, Variant];
  await withStats.mesh.admin({ listen: 0 });
  const limitedAdmin = await limited.mesh.admin({ listen: 0, tap: true });
  const everythingAdmin = await everything.mesh.admin({ listen: 0, tap: { maxEventsPerSecond: 10_000 } });
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-bench-tap-'));
  const subscribers = [subscribe(`${limitedAdmin.url}api/tap?format=ndjson`, join(dir, 'limited.ndjson')), subscribe(`${everythingAdmin.url}api/tap?format=ndjson`, join(dir, 'everything.ndjson'))];
  // Both subscribed before the first request (the tap's first message says so).
  for (const file of ['limited.ndjson', 'everything.ndjson']) while (!existsSync(join(dir, file)) || readFileSync(join(dir, file), 'utf8') === '') await new Promise((r) => setTimeout(r, 20));

  const rounds = options.quick ? 3 : 5;
  const windowMs = options.quick ? 1_500 : 4_000;
  try {
    for (const v of variants) await drive(v, options.quick ? 500 : 1_000, false);
    const warm = { limited: countEvents(join(dir, 'limited.ndjson')), everything: countEvents(join(dir, 'everything.ndjson')) };
    for (let round = 0; round < rounds; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) v.rates.push(await drive(v, windowMs, true));
    }
    limited.tapped = countEvents(join(dir, 'limited.ndjson')) - warm.limited;
    everything.tapped = countEvents(join(dir, 'everything.ndjson')) - warm.everything;
  } finally {
    for (const curl of subscribers) curl.kill();
    await Promise.all(variants.map((v) => v.mesh.close()));
    fleet.stop();
    rmSync(dir, { recursive: true, force: true });
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
      `meshClient.request through the default stack to one local backend; ${IN_FLIGHT} requests in flight; ${rounds} interleaved rounds of ${windowMs / 1000} s per variant, median req/s reported. The tap subscribers are curl processes reading /api/tap over loopback HTTP; events/s is what they received per second of their mesh's traffic.`,
      '',
      '| variant | req/s | ratio to A | p50 / p99 µs | tap events/s delivered |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...variants.map(row),
    ].join('\n'),
  };
}

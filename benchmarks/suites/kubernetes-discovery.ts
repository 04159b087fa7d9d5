/**
 * Kubernetes discovery, against the test suite's fake API server (real HTTPS on loopback, a bearer
 * token from a kubeconfig, the watch protocol as kube-apiserver speaks it):
 *   removal   a pod turns not-ready while a closed loop of requests runs: from the moment the API
 *             server writes the event, how long until the client applies it, and until the last
 *             request reaches the pod (requests already in flight included). Target ≤ 1 s.
 *   scale     a Service with 1,000 endpoints in 10 EndpointSlices: heap held per watcher, and the time
 *             from the API server writing a change (one endpoint's readiness) to the new set.
 *   footprint the compiled watcher (src/discovery/kubernetes) on disk and its import time in a fresh node.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { EndpointAddress } from '../../src/discovery/endpoint-address.js';
import { KubernetesResolver } from '../../src/discovery/kubernetes/kubernetes-resolver.js';
import { meshClient } from '../../src/index.js';
import { FakeKubeApi } from '../../test/helpers/fake-kube-api.js';
import { endpointSlice, writeKubeconfig, type SliceEndpointSpec } from '../../test/helpers/kube-objects.js';
import { makeClusterTls } from '../../test/helpers/kube-tls.js';
import { startPods } from '../../test/helpers/pod-backends.js';
import { median } from '../lib/closed-loop.js';
import type { SuiteResult } from './retry-amplification.js';

const TOKEN = 'bench-token';
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ms = (x: number) => x.toFixed(1);

async function cluster() {
  const tls = await makeClusterTls();
  const api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem }, tokens: [TOKEN] });
  const kubeconfig = writeKubeconfig(mkdtempSync(join(tmpdir(), 'meshwork-bench-k8s-')), api, { caPem: tls.caPem, token: TOKEN });
  return { api, kubeconfig };
}

async function removal(rounds: number): Promise<string[]> {
  const { api, kubeconfig } = await cluster();
  const pods = await startPods(3, { first: 40 });
  const put = (states: Omit<SliceEndpointSpec, 'ip'>[]) =>
    api.put('endpointslices', endpointSlice('reviews', 'reviews-a', pods.map((p, i) => ({ ip: p.ip, ...states[i] })), { name: 'http', port: pods[0]!.port }));
  put([{}, {}, {}]);
  let applied: (() => void) | undefined;
  const client = meshClient('reviews', {
    discovery: { type: 'kubernetes', service: 'reviews', namespace: 'default', port: 'http', kubeconfig },
    logger: { debug: (msg) => msg === 'endpoints updated' && applied?.(), info() {}, warn() {}, error() {} },
  });
  let running = true;
  let failures = 0;
  const workers = Array.from({ length: 16 }, async () => {
    while (running) {
      try {
        const res = await client.request({ method: 'GET', path: '/' });
        await res.body.dump();
      } catch {
        failures++;
      }
    }
  });
  const toApply: number[] = [];
  const toLast: number[] = [];
  const nextUpdate = () => new Promise<number>((resolve) => (applied = () => resolve(performance.now())));
  try {
    await new Promise((r) => setTimeout(r, 500));
    for (let round = 0; round < rounds; round++) {
      const victim = pods[round % pods.length]!;
      const update = nextUpdate();
      const t0 = performance.now();
      put(pods.map((p) => (p === victim ? { ready: false } : {})));
      toApply.push((await update) - t0);
      await new Promise((r) => setTimeout(r, 300));
      toLast.push(Math.max(0, (victim.arrivals.at(-1) ?? t0) - t0));
      const back = nextUpdate();
      put([{}, {}, {}]);
      await back;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    running = false;
    await Promise.all(workers);
    await client.close();
    await api.close();
    await Promise.all(pods.map((p) => p.stop()));
  }
  const max = Math.max(...toLast);
  return [
    `| event written → client applies it, ms | ${ms(median(toApply))} | ${ms(Math.max(...toApply))} | — |`,
    `| event written → last request reaches the removed pod, ms | ${ms(median(toLast))} | ${ms(max)} | ≤ 1000 ms: ${max <= 1000 ? 'met' : 'NOT met'} |`,
    `| requests failed meanwhile | ${failures} | | |`,
  ];
}

async function scale(changes: number): Promise<string[]> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heap = () => {
    for (let i = 0; i < 3; i++) gc();
    return process.memoryUsage().heapUsed;
  };
  const { api, kubeconfig } = await cluster();
  const services = 10;
  const perSlice = 100;
  const slices = 10;
  const addresses = (s: number, n: number) => Array.from({ length: perSlice }, (_, i) => `10.${s}.${n}.${i + 1}`);
  for (let s = 0; s < services; s++) {
    for (let n = 0; n < slices; n++) api.put('endpointslices', endpointSlice(`svc-${s}`, `svc-${s}-${n}`, addresses(s, n)));
  }
  const sets = new Map<number, (set: readonly EndpointAddress[]) => void>();
  const before = heap();
  const resolvers = Array.from({ length: services }, (_, s) => new KubernetesResolver({ service: `svc-${s}`, namespace: 'default', port: 'http', kubeconfig }));
  const first = resolvers.map(
    (resolver, s) =>
      new Promise<number>((resolve) =>
        resolver.start({
          onEndpoints: (set) => {
            const listener = sets.get(s);
            if (listener) listener(set);
            else resolve(set.length);
          },
          onError: () => undefined,
        }),
      ),
  );
  const sizes = await Promise.all(first);
  await new Promise((r) => setTimeout(r, 200));
  const perWatcher = (heap() - before) / services;

  const times: number[] = [];
  // Each change flips the readiness of the first endpoint of one slice, so every one changes the set.
  const notReady = new Set<string>();
  for (let i = 0; i < changes; i++) {
    const s = i % services;
    const n = Math.floor(i / services) % slices;
    const slice = `${s}/${n}`;
    if (notReady.has(slice)) notReady.delete(slice);
    else notReady.add(slice);
    const changed = new Promise<number>((resolve) => sets.set(s, () => resolve(performance.now())));
    const endpoints: SliceEndpointSpec[] = addresses(s, n).map((ip, k) => ({ ip, ready: !(k === 0 && notReady.has(slice)) }));
    const t0 = performance.now();
    api.put('endpointslices', endpointSlice(`svc-${s}`, `svc-${s}-${n}`, endpoints));
    times.push((await changed) - t0);
    sets.delete(s);
  }
  await Promise.all(resolvers.map((r) => r.close()));
  await api.close();
  return [
    `| endpoints per Service (10 slices of 100) | ${sizes[0]} | | |`,
    `| heap held per watcher (10 watchers, after GC) | ${(perWatcher / 1024).toFixed(0)} KiB | | ${(perWatcher / sizes[0]!).toFixed(0)} bytes per endpoint |`,
    `| change written → new endpoint set (${changes} changes), ms | ${ms(median(times))} | ${ms(percentile(times, 99))} (p99) | |`,
  ];
}

function footprint(): string[] {
  const dir = join(REPO, 'dist/discovery/kubernetes');
  let bytes = 0;
  let files = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.js')) continue;
    bytes += statSync(join(dir, name)).size;
    files++;
  }
  // A fresh process per import; undici alone is the part meshwork loads anyway.
  const importMs = (specifier: string) => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = spawnSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t);`], { encoding: 'utf8', cwd: REPO });
      times.push(Number(out.stdout.trim()));
    }
    return median(times);
  };
  const watcher = importMs(join(dir, 'kubernetes-resolver.js'));
  const undici = importMs('undici');
  return [`| compiled watcher: ${files} files, ${(bytes / 1024).toFixed(0)} KiB of JavaScript (dist/discovery/kubernetes) | import ${ms(watcher)} ms, of which undici alone ${ms(undici)} ms (medians of 5 fresh processes) | | no dependency beyond undici and yaml, which meshwork has anyway |`];
}

export async function run({ quick }: { quick: boolean }): Promise<SuiteResult> {
  const removalRows = await removal(quick ? 6 : 30);
  const scaleRows = await scale(quick ? 40 : 200);
  const footprintRows = footprint();
  return {
    name: 'kubernetes-discovery',
    markdown: [
      '### Kubernetes discovery: endpoint removal, 1,000 endpoints, footprint',
      '',
      'The test suite\'s fake API server on loopback (HTTPS, bearer token from a kubeconfig, chunked watch events); meshClient with `discovery: { type: kubernetes, ... }`.',
      `Removal: 3 pods (node:http on 127.0.0.40-42) under a closed loop of 16 requests in flight; ${quick ? 6 : 30} rounds, each turning one pod not-ready and then ready again. "Last request" is the last arrival at the pod after the event was written, requests already in flight included.`,
      `Scale: 10 Services of 1,000 endpoints (10 slices of 100 each), one watcher each; heap measured after forced GC; then ${quick ? 40 : 200} changes (one endpoint's readiness flipped).`,
      '',
      '| measure | median | max | target / note |',
      '| --- | ---: | ---: | --- |',
      ...removalRows,
      ...scaleRows,
      ...footprintRows,
    ].join('\n'),
  };
}

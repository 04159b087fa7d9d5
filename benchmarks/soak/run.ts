/**
 * `npm run soak`: the long versions of the reliability tests, minutes rather than seconds, which
 * `npm test` runs short. Each phase measures figures and the run ends with a table of every figure
 * against its bound (met or not), and the total time.
 *
 * Phases, in order. About 13 minutes on a quiet 2-core machine; phases 1 to 3 stop at a time cap
 * (200, 200 and 150 s) and report how far they got, so a slow machine ends in about 15 minutes:
 *   1. one million requests in-process (meshClient and fetch through the mesh dispatcher, half each):
 *      heap after GC from the first 100k to the end, open file descriptors, active timers and sockets;
 *   2. one million requests through mesh-sidecar: its heap (the floor of its samples), descriptors;
 *   3. 1,000 config reloads (services added, removed, changed) under steady traffic: failed requests,
 *      heap, descriptors and handles (closed clients really close);
 *   4. endpoint churn: the endpoint file rewritten every 100 ms for 90 s under load, then the same
 *      through Kubernetes discovery (an EndpointSlice rewritten on the fake API server);
 *   5. the endpoint file deleted for a minute under load, then back with another endpoint;
 *   6. the hostile-client tests with 10,000 idle keep-alive connections, and the fuzz tests with
 *      five times the runs (their seeds are printed; FUZZ_SEED replays one);
 *   7. certificates rotated every 3 s for 60 s, the caller's and the sidecar's in turn, under load
 *      through a strict-mTLS inbound, with connections renewed every 50 requests so that handshakes
 *      keep meeting the new certificates.
 *
 * SOAK_SCALE (default 1) scales counts and durations, e.g. 0.1 for a quick check of the harness.
 * Run with --expose-gc (the npm script does) so heap figures are taken after a full collection.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fetch, Pool } from 'undici';
import { createMesh, meshClient, type Mesh, type MeshClient } from '../../src/index.js';
import { startFleet, type BackendFleet } from '../lib/latency-backends.js';
import { startSidecarProcess, writeConfig } from '../../test/helpers/sidecar-process.js';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { FakeKubeApi } from '../../test/helpers/fake-kube-api.js';
import { endpointSlice, writeKubeconfig } from '../../test/helpers/kube-objects.js';
import { makeClusterTls } from '../../test/helpers/kube-tls.js';
import { startPods, type Pod } from '../../test/helpers/pod-backends.js';

const SCALE = Number(process.env.SOAK_SCALE ?? 1);
const MB = 1024 * 1024;
const started = performance.now();
const loadAtStart = loadavg()[0]!.toFixed(1);

interface Row {
  phase: string;
  figure: string;
  measured: string;
  bound: string;
  ok: boolean;
}
const rows: Row[] = [];
const row = (phase: string, figure: string, measured: string, bound: string, ok: boolean) => {
  rows.push({ phase, figure, measured, bound, ok });
  console.log(`  ${ok ? 'ok ' : 'NOT'} ${figure}: ${measured} (bound ${bound})`);
};

const gc = (globalThis as { gc?: () => void }).gc;
function heapAfterGc(): number {
  if (!gc) throw new Error('run with --expose-gc (npm run soak does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
const openFds = (pid: number | 'self' = 'self') => readdirSync(`/proc/${pid}/fd`).length;
function handles(): { timers: number; sockets: number } {
  const info = process.getActiveResourcesInfo();
  return { timers: info.filter((r) => r === 'Timeout').length, sockets: info.filter((r) => r === 'TCPSocketWrap').length };
}
const settle = (ms = 500) => new Promise((r) => setTimeout(r, ms));

/** Runs `call` with `concurrency` callers until `total` calls or `capMs`; counts failures, calls `at(n)` once at each checkpoint. */
async function closedLoop(options: { total: number; concurrency: number; capMs: number; call: (i: number) => Promise<void>; checkpoints?: Map<number, () => Promise<void> | void> }): Promise<{ done: number; failures: number; samples: string[]; seconds: number }> {
  let next = 0;
  let done = 0;
  let failures = 0;
  const samples: string[] = [];
  const t0 = performance.now();
  const deadline = t0 + options.capMs;
  let paused: Promise<void> | undefined;
  const worker = async () => {
    while (next < options.total && performance.now() < deadline) {
      if (paused) await paused;
      const i = next++;
      try {
        await options.call(i);
      } catch (err) {
        failures++;
        if (samples.length < 5) samples.push((err as Error).message);
      }
      done++;
      const checkpoint = options.checkpoints?.get(done);
      if (checkpoint && !paused) {
        // Everyone waits while the checkpoint measures, so the figure is not taken mid-burst.
        let release!: () => void;
        paused = new Promise((r) => (release = r));
        await checkpoint();
        paused = undefined;
        release();
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { done, failures, samples, seconds: (performance.now() - t0) / 1000 };
}

/** One GET of `service`, by meshClient.request or by fetch through the mesh dispatcher; throws unless 200. */
async function meshGet(mesh: Mesh, client: MeshClient, service: string, byClient: boolean): Promise<void> {
  if (byClient) {
    const res = await client.request({ path: '/' });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    return;
  }
  const res = await fetch(`http://${service}/`, { dispatcher: mesh.dispatcher });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`status ${res.status}`);
}

async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function metricValue(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : NaN;
}

// ---- phases --------------------------------------------------------------------------------------

async function inProcess(fleet: BackendFleet): Promise<void> {
  console.log('1. one million requests in-process');
  const total = Math.round(1_000_000 * SCALE);
  const mesh = createMesh({ services: { soak: { endpoints: fleet.ports.slice(0, 3).map((p) => `127.0.0.1:${p}`) } } });
  const client = mesh.client('soak');
  const fdsBefore = openFds();
  let heapAt100k = 0;
  let handlesAt100k = { timers: 0, sockets: 0 };
  const first = Math.min(100_000, Math.round(total / 10));
  const result = await closedLoop({
    total,
    concurrency: 32,
    capMs: 200_000,
    call: (i) => meshGet(mesh, client, 'soak', i % 2 === 0),
    checkpoints: new Map([[first, () => {
      heapAt100k = heapAfterGc();
      handlesAt100k = handles();
    }]]),
  });
  await settle();
  const heapEnd = heapAfterGc();
  const handlesEnd = handles();
  row('in-process', `requests (meshClient + fetch), ${Math.round(result.done / result.seconds)} req/s`, String(result.done), `${total}`, result.done === total);
  row('in-process', 'failed requests', String(result.failures), '0', result.failures === 0);
  row('in-process', `heap after GC, ${first} to the end`, `${((heapEnd - heapAt100k) / MB).toFixed(1)} MB`, '≤ 10 MB', heapEnd - heapAt100k <= 10 * MB);
  row('in-process', 'active timers, then to the end', `${handlesAt100k.timers} → ${handlesEnd.timers}`, 'no growth', handlesEnd.timers <= handlesAt100k.timers);
  await mesh.close();
  await settle();
  const fdsAfter = openFds();
  row('in-process', 'open file descriptors, start → after close', `${fdsBefore} → ${fdsAfter}`, 'back to the start', fdsAfter <= fdsBefore);
}

async function throughSidecar(fleet: BackendFleet): Promise<void> {
  console.log('2. one million requests through mesh-sidecar');
  const total = Math.round(1_000_000 * SCALE);
  const endpoints = fleet.ports.slice(0, 3).map((p) => `"127.0.0.1:${p}"`).join(', ');
  const sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    soak: { endpoints: [${endpoints}] }\n`);
  const pid = sidecar.child.pid!;
  const pool = new Pool(`http://${sidecar.outbound}`, { connections: 32 });
  const call = async () => {
    const res = await pool.request({ path: '/', method: 'GET', headers: { host: 'soak' } });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  // The sidecar's heap sampled while the load runs; the lowest sample in a stretch is the level its
  // own collections come back down to (an idle process collects nothing, so samples at rest mislead).
  const samples: { done: number; heap: number }[] = [];
  let done = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ done, heap: await metricValue(sidecar.admin, 'nodejs_heap_size_used_bytes') });
      await settle(250);
    }
  })();
  const fdsBefore = openFds(pid);
  const first = Math.min(100_000, Math.round(total / 10));
  const result = await closedLoop({
    total,
    concurrency: 32,
    capMs: 200_000,
    call: async () => {
      await call();
      done++;
    },
  });
  sampling = false;
  await sampler;
  const floor = (from: number, to: number) => Math.min(...samples.filter((x) => x.done >= from && x.done <= to).map((x) => x.heap));
  const heapAt100k = floor(first, first + result.done / 10);
  const heapEnd = floor(result.done * 0.9, result.done);
  await pool.close();
  await settle(1_000);
  const fdsAfter = openFds(pid);
  row('sidecar', `requests, ${Math.round(result.done / result.seconds)} req/s`, String(result.done), `${total}`, result.done === total);
  row('sidecar', 'failed requests', String(result.failures), '0', result.failures === 0);
  row('sidecar', `sidecar heap (floor of samples), ${first} to the end`, `${((heapEnd - heapAt100k) / MB).toFixed(1)} MB`, '≤ 10 MB', heapEnd - heapAt100k <= 10 * MB);
  // Its connections to the backends stay pooled; those to the callers must be gone.
  row('sidecar', 'sidecar descriptors, before load → after the callers left', `${fdsBefore} → ${fdsAfter}`, '≤ start + 96 (3 backends × 32 pooled upstream)', fdsAfter <= fdsBefore + 3 * 32);
  await sidecar.stop();
}

async function configChurn(fleet: BackendFleet): Promise<void> {
  console.log('3. config reloads under steady traffic');
  const reloads = Math.round(1_000 * SCALE);
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-soak-config-'));
  const file = join(dir, 'mesh.yaml');
  const ep = (i: number) => `"127.0.0.1:${fleet.ports[i % fleet.ports.length]}"`;
  // Generation n: the steady service (its timeout changed), and extra services that come and go.
  const yaml = (n: number) =>
    `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    steady: { endpoints: [${ep(0)}, ${ep(1)}], timeout: ${2 + (n % 3)}s }\n` +
    Array.from({ length: n % 5 }, (_, k) => `    extra-${(n + k) % 7}: { endpoints: [${ep(n + k)}], retries: { maxAttempts: ${1 + (k % 3)} } }\n`).join('');
  await writeFile(file, yaml(0));
  const mesh = createMesh({ config: file });
  const steady = mesh.client('steady');
  let running = true;
  let requests = 0;
  let failures = 0;
  const samples: string[] = [];
  const traffic = Array.from({ length: 8 }, async (_, w) => {
    while (running) {
      try {
        await meshGet(mesh, steady, 'steady', w % 2 === 0);
      } catch (err) {
        failures++;
        if (samples.length < 5) samples.push((err as Error).message);
      }
      requests++;
    }
  });
  const t0 = performance.now();
  let heapStart = 0;
  let handlesStart = { timers: 0, sockets: 0 };
  let applied = 0;
  for (let n = 1; n <= reloads && performance.now() - t0 < 150_000; n++) {
    await replaceFile(file, yaml(n));
    const generation = mesh.configGeneration;
    for (let waited = 0; mesh.configGeneration === generation && waited < 5_000; waited += 5) await settle(5);
    applied = mesh.configGeneration - 1;
    if (n === Math.round(reloads / 20)) {
      heapStart = heapAfterGc();
      handlesStart = handles();
    }
  }
  // Same shape as at the start checkpoint, so the comparison is like with like.
  await replaceFile(file, yaml(Math.round(reloads / 20)));
  for (let waited = 0; mesh.configGeneration === applied + 1 && waited < 5_000; waited += 5) await settle(5);
  running = false;
  await Promise.all(traffic);
  await settle();
  const heapEnd = heapAfterGc();
  const handlesEnd = handles();
  row('config churn', `reloads applied in ${((performance.now() - t0) / 1000).toFixed(0)} s`, String(applied), String(reloads), applied >= reloads);
  row('config churn', `failed requests of ${requests}`, String(failures), '0', failures === 0);
  row('config churn', 'heap after GC, 5% of the reloads to the end', `${((heapEnd - heapStart) / MB).toFixed(1)} MB`, '≤ 10 MB', heapEnd - heapStart <= 10 * MB);
  row('config churn', 'active timers / sockets, then → end', `${handlesStart.timers}/${handlesStart.sockets} → ${handlesEnd.timers}/${handlesEnd.sockets}`, 'no growth', handlesEnd.timers <= handlesStart.timers && handlesEnd.sockets <= handlesStart.sockets);
  if (samples.length) console.log(`  failures: ${samples.join('; ')}`);
  await mesh.close();
  await rm(dir, { recursive: true, force: true });
}

/** Steady GETs against a service discovered from `file` (or by `discovery`), while `change` runs; returns what the callers saw. */
async function underLoad(file: string | Record<string, unknown>, change: () => Promise<void>): Promise<{ requests: number; failures: number; samples: string[] }> {
  const client = meshClient('churn', { discovery: typeof file === 'string' ? { type: 'file', path: file, pollIntervalMs: 200 } : file });
  try {
    return await steadyGets(client, change);
  } finally {
    await client.close();
  }
}

/** GETs from 8 callers through `client` while `change` runs; anything but a 200 is a failure. */
async function steadyGets(client: Pick<MeshClient, 'request'>, change: () => Promise<void>): Promise<{ requests: number; failures: number; samples: string[] }> {
  let running = true;
  let requests = 0;
  let failures = 0;
  const samples: string[] = [];
  const traffic = Array.from({ length: 8 }, async () => {
    while (running) {
      try {
        const res = await client.request({ path: '/' });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode} ${res.headers['x-meshwork-error'] ?? ''}`);
      } catch (err) {
        failures++;
        if (samples.length < 5) samples.push((err as Error).message);
      }
      requests++;
    }
  });
  try {
    await change();
  } finally {
    running = false;
    await Promise.all(traffic);
  }
  return { requests, failures, samples };
}

async function endpointChurn(fleet: BackendFleet): Promise<void> {
  console.log('4. endpoint churn every 100 ms');
  const seconds = Math.round(90 * SCALE);
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-soak-eps-'));
  const file = join(dir, 'eps.json');
  const all = fleet.ports.map((p) => `127.0.0.1:${p}`);
  await writeFile(file, JSON.stringify(all.slice(0, 2)));
  let changes = 0;
  const result = await underLoad(file, async () => {
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      // A random, never empty subset: endpoints added and removed at once.
      const subset = all.filter(() => Math.random() < 0.5);
      await replaceFile(file, JSON.stringify(subset.length ? subset : [all[changes % all.length]]));
      changes++;
      await settle(100);
    }
  });
  row('endpoint churn', `file changes in ${seconds} s`, String(changes), `≥ ${seconds * 5}`, changes >= seconds * 5);
  row('endpoint churn', `failed GETs of ${result.requests}`, String(result.failures), '0', result.failures === 0);
  if (result.samples.length) console.log(`  failures: ${result.samples.join('; ')}`);
  await rm(dir, { recursive: true, force: true });
}

async function kubernetesChurn(): Promise<void> {
  console.log('4b. endpoint churn every 100 ms through Kubernetes discovery (the fake API server)');
  const seconds = Math.round(90 * SCALE);
  const token = 'soak-token';
  const tls = await makeClusterTls();
  const api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem }, tokens: [token] });
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-soak-k8s-'));
  const kubeconfig = writeKubeconfig(dir, api, { caPem: tls.caPem, token });
  const pods = await startPods(6);
  const slice = (members: Pod[]) => api.put('endpointslices', endpointSlice('churn', 'churn-a', members.map((p) => ({ ip: p.ip })), { name: 'http', port: pods[0]!.port }));
  slice(pods.slice(0, 2));
  let changes = 0;
  try {
    const result = await underLoad({ type: 'kubernetes', service: 'churn', namespace: 'default', port: 'http', kubeconfig }, async () => {
      await settle(500);
      const until = performance.now() + seconds * 1000;
      while (performance.now() < until) {
        const subset = pods.filter(() => Math.random() < 0.5);
        slice(subset.length ? subset : [pods[changes % pods.length]!]);
        changes++;
        await settle(100);
      }
    });
    row('kubernetes churn', `EndpointSlice changes in ${seconds} s`, String(changes), `≥ ${seconds * 5}`, changes >= seconds * 5);
    row('kubernetes churn', `failed GETs of ${result.requests}`, String(result.failures), '0', result.failures === 0);
    if (result.samples.length) console.log(`  failures: ${result.samples.join('; ')}`);
  } finally {
    await api.close();
    await Promise.all(pods.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

async function discoveryDown(fleet: BackendFleet): Promise<void> {
  console.log('5. the endpoint file deleted for a minute');
  const seconds = Math.round(60 * SCALE);
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-soak-down-'));
  const file = join(dir, 'eps.json');
  const [a, b] = [fleet.ports[0]!, fleet.ports[1]!];
  await writeFile(file, JSON.stringify([`127.0.0.1:${a}`]));
  let recoveredMs = NaN;
  const result = await underLoad(file, async () => {
    await settle(1_000);
    await unlink(file);
    await settle(seconds * 1000);
    const before = (await fleet.hits())[1]!;
    await writeFile(file, JSON.stringify([`127.0.0.1:${b}`]));
    const back = performance.now();
    while ((await fleet.hits())[1]! === before) {
      if (performance.now() - back > 30_000) return;
      await settle(20);
    }
    recoveredMs = performance.now() - back;
  });
  row('discovery down', `failed GETs of ${result.requests} (file gone ${seconds} s)`, String(result.failures), '0', result.failures === 0);
  row('discovery down', 'new endpoint used after the file came back', `${recoveredMs.toFixed(0)} ms`, '≤ 5,000 ms', recoveredMs <= 5_000);
  await rm(dir, { recursive: true, force: true });
}

/** Runs test files with node:test in a child process with `env`; returns whether they passed and their output. */
function runTests(files: string[], env: NodeJS.ProcessEnv): Promise<{ passed: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=600000', ...files], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => resolve({ passed: code === 0, output }));
  });
}

async function hostileAndFuzz(): Promise<void> {
  console.log('6. hostile clients at scale, and the fuzz tests with five times the runs');
  const idle = Math.round(10_000 * SCALE);
  const hostile = await runTests(['test/sidecar/hostile-clients.test.ts'], { IDLE_CONNECTIONS: String(idle) });
  for (const line of hostile.output.split('\n').filter((l) => /callers .*p99/.test(l))) console.log(`  ${line.trim()}`);
  const p99 = (pattern: RegExp) => Number(hostile.output.split('\n').find((l) => pattern.test(l))?.match(/p99 ([\d.]+) ms/)?.[1] ?? NaN);
  row('hostile', 'slow loris, slow uploads, non-readers, flood, in-flight limit, idle connections: tests', hostile.passed ? 'pass' : 'FAIL', 'pass', hostile.passed);
  row('hostile', 'well-behaved p99 during slow loris / uploads / non-readers', `${p99(/during the attack/).toFixed(1)} ms`, '≤ 500 ms', p99(/during the attack/) <= 500);
  row('hostile', `well-behaved p99 beside ${idle} idle keep-alive connections`, `${p99(/idle connections/).toFixed(1)} ms`, '≤ 500 ms', p99(/idle connections/) <= 500);
  if (!hostile.passed) console.log(hostile.output.slice(-4000));
  const fuzz = await runTests(['test/fuzz/config-fuzz.test.ts', 'test/fuzz/http1-fuzz.test.ts', 'test/fuzz/discovery-fuzz.test.ts'], { FUZZ_RUNS_FACTOR: String(Math.max(1, 5 * SCALE)) });
  for (const line of fuzz.output.split('\n').filter((l) => /^fuzz |fuzzed requests/.test(l))) console.log(`  ${line.trim()}`);
  row('fuzz', 'configs, HTTP/1.1 bytes, discovery input (5× the runs of npm test)', fuzz.passed ? 'pass' : 'FAIL', 'pass', fuzz.passed);
  if (!fuzz.passed) console.log(fuzz.output.slice(-4000));
}

async function certificateRotation(fleet: BackendFleet): Promise<void> {
  console.log('7. certificates rotated every 3 s under load, through strict mTLS');
  const seconds = Math.round(60 * SCALE);
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-soak-rotation-'));
  const trustDomain = 'cluster.local';
  const callerId = `spiffe://${trustDomain}/ns/default/sa/caller`;
  const serverId = `spiffe://${trustDomain}/ns/default/sa/words`;
  const ca = await createAuthority({ trustDomain });
  const issue = async (name: string, id: string) => writeLeaf(join(dir, name), await issueLeaf(ca, id), ca.root.certPem);
  const identityYaml = (f: { certFile: string; keyFile: string; caFile: string }) => `  identity: { certFile: "${f.certFile}", keyFile: "${f.keyFile}", trustAnchorsFile: "${f.caFile}" }\n`;
  const serverFiles = await issue('server', serverId);
  const callerFiles = await issue('caller', callerId);
  const sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n${identityYaml(serverFiles)}  sidecar: { inboundTls: strict }\n  services: {}\n`, [
    '--outbound',
    'none',
    '--inbound',
    '127.0.0.1:0',
    '--app',
    `127.0.0.1:${fleet.ports[0]}`,
  ]);
  const config = writeConfig(
    `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n${identityYaml(callerFiles)}  services:\n    words:\n      endpoints: ["${sidecar.inbound}"]\n      tls: { identity: "${serverId}" }\n      connection: { maxRequestsPerConnection: 50 }\n`,
    await mkdtemp(join(tmpdir(), 'meshwork-soak-rotation-client-')),
  );
  const mesh = createMesh({ config });
  let rotations = 0;
  const { requests, failures, samples } = await steadyGets(mesh.client('words'), async () => {
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      await settle(3_000);
      if (rotations % 2 === 0) await issue('caller', callerId);
      else await issue('server', serverId);
      rotations++;
    }
    await settle(1_000);
  });
  const serverRotations = sidecar.logs.filter((l) => l.msg === 'identity rotated').length;
  await mesh.close();
  await sidecar.stop();
  await rm(dir, { recursive: true, force: true });
  row('certificate rotation', `failed requests of ${requests} (${rotations} rotations in ${seconds} s)`, String(failures), '0', failures === 0);
  row('certificate rotation', 'sidecar certificate rotations it reported', `${serverRotations} of ${Math.floor(rotations / 2)}`, 'all', serverRotations >= Math.floor(rotations / 2));
  if (samples.length) console.log(`  failures: ${samples.join('; ')}`);
}

// ---- the run -------------------------------------------------------------------------------------

const fleet = await startFleet(6, 0);
try {
  await inProcess(fleet);
  await throughSidecar(fleet);
  await configChurn(fleet);
  await endpointChurn(fleet);
  await kubernetesChurn();
  await discoveryDown(fleet);
  await hostileAndFuzz();
  await certificateRotation(fleet);
} finally {
  fleet.stop();
}

const minutes = (performance.now() - started) / 60_000;
const cell = (s: string) => s.replace(/\|/g, '\\|');
const missed = rows.filter((r) => !r.ok).length;
const cpu = cpus();
const section = [
  '### Soak: `npm run soak`',
  '',
  `Written by \`npm run soak\` on ${new Date().toISOString().slice(0, 10)}${SCALE === 1 ? '' : ` with SOAK_SCALE ${SCALE}`}: ${minutes.toFixed(1)} minutes. ` +
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; Node ${process.version}; ` +
    `load average ${loadAtStart} at the start and ${loadavg()[0]!.toFixed(1)} at the end (other work on the machine slows every phase).`,
  '',
  '| phase | figure | measured | bound | met |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${cell(r.phase)} | ${cell(r.figure)} | ${cell(r.measured)} | ${cell(r.bound)} | ${r.ok ? 'yes' : '**no**'} |`),
  '',
  `${rows.length - missed} of ${rows.length} figures within their bounds.`,
].join('\n');
console.log(`\n${section}\n\ntotal run time ${minutes.toFixed(1)} minutes`);
// A full run's table goes into RESULTS.md (and stays there across \`npm run bench\`, which includes this file).
if (SCALE === 1) {
  await writeFile(new URL('../soak-results.md', import.meta.url), `${section}\n`);
  const resultsFile = new URL('../RESULTS.md', import.meta.url);
  const results = await readFile(resultsFile, 'utf8');
  const start = results.indexOf('### Soak: `npm run soak`');
  const end = start === -1 ? -1 : results.indexOf('\n#', start + 1);
  const kept = start === -1 ? results.trimEnd() : `${results.slice(0, start).trimEnd()}${end === -1 ? '' : `\n\n${results.slice(end + 1).trimEnd()}`}`;
  await writeFile(resultsFile, `${kept}\n\n${section}\n`);
  console.log('wrote benchmarks/soak-results.md and its section of benchmarks/RESULTS.md');
}
process.exitCode = missed === 0 ? 0 : 1;

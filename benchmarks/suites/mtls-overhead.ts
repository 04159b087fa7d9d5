/**
 * What mTLS costs with keep-alive, measured against plaintext in the same run:
 *   in-process   meshClient (this process) → mesh-sidecar inbound → backend, the hop to the sidecar
 *                over mTLS (strict) or plaintext; 32 requests in flight, closed loop
 *   two sidecars wrk → sidecar A outbound → sidecar B inbound → backend, A to B over mTLS or plaintext
 *   reference    undici Pool → a node:https server with client certificates, against node:http: what
 *                Node's TLS itself costs per small request, with no mesh at all
 * Rounds are interleaved so drift affects both alike. Target: the mesh's mTLS/plaintext ratio is at
 * least 0.9× Node's own https/http ratio (the reference row): the mesh adds no more than a tenth to
 * what TLS itself costs in Node.
 * Certificates come from a CA made for the run (src/tls), as `mesh-sidecar identity` would make them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMesh, type Mesh } from '../../src/index.js';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { closedLoop, median } from '../lib/closed-loop.js';
import { startFleet } from '../lib/latency-backends.js';
import { Children, ensureTools, SIDECAR_MAIN } from '../lib/proxy-targets.js';
import { runWrk } from '../lib/wrk.js';
import type { SuiteResult } from './retry-amplification.js';

const IN_FLIGHT = 32;
/** The mesh's mTLS/plaintext ratio against Node's own https/http ratio. */
const TARGET_VS_NODE = 0.9;
const SERVER = 'spiffe://bench.local/ns/default/sa/backend';
const CLIENT = 'spiffe://bench.local/ns/default/sa/client';

interface Sidecar {
  outbound?: string;
  inbound?: string;
}

async function startSidecar(children: Children, label: string, config: string, args: string[]): Promise<Sidecar> {
  let ready: (s: Sidecar) => void = () => {};
  const started = new Promise<Sidecar>((resolve) => (ready = resolve));
  const managed = children.spawn(label, process.execPath, [SIDECAR_MAIN, '--config', config, '--admin', 'none', '--log-level', 'warn', ...args], (line) => {
    if (!line.includes('mesh-sidecar ready')) return;
    const parsed = JSON.parse(line) as { outbound: string | null; inbound: string | null };
    ready({ ...(parsed.outbound ? { outbound: parsed.outbound } : {}), ...(parsed.inbound ? { inbound: parsed.inbound } : {}) });
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${label} did not start: ${managed.tail.join('\n')}`)), 15_000).unref());
  return Promise.race([started, timeout]);
}

type Requester = { request(o: { method: 'GET'; path: string }): Promise<{ body: { dump(): Promise<unknown> } }> };

/** One GET through `client`, its body read. */
const closedLoopOf = (client: Requester, ms: number) =>
  closedLoop(async () => {
    const res = await client.request({ method: 'GET', path: '/' });
    await res.body.dump();
  }, IN_FLIGHT, ms);

export async function run({ quick }: { quick: boolean }): Promise<SuiteResult> {
  const tools = ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-mtls-bench-'));
  const children = new Children();
  const fleet = await startFleet(1, 0);
  const meshes: Mesh[] = [];
  const servers: Server[] = [];
  const pools: Pool[] = [];
  try {
    const ca = await createAuthority({ trustDomain: 'bench.local' });
    const server = await writeLeaf(join(dir, 'server'), await issueLeaf(ca, SERVER), ca.root.certPem);
    const client = await writeLeaf(join(dir, 'client'), await issueLeaf(ca, CLIENT), ca.root.certPem);
    const identity = (f: typeof server) => `  identity: { certFile: "${f.certFile}", keyFile: "${f.keyFile}", trustAnchorsFile: "${f.caFile}" }\n`;
    const write = async (name: string, text: string) => {
      const path = join(dir, `${name}.yaml`);
      await writeFile(path, `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n${text}`);
      return path;
    };
    const app = `127.0.0.1:${fleet.ports[0]}`;
    const serverTls = await startSidecar(children, 'inbound (mTLS)', await write('b-tls', `${identity(server)}  services: {}\n`), ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app]);
    const serverPlain = await startSidecar(children, 'inbound (plaintext)', await write('b-plain', '  services: {}\n'), ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', app]);
    const service = (endpoint: string, tls: boolean) => `  services:\n    backend:\n      endpoints: ["${endpoint}"]\n${tls ? `      tls: { identity: "${SERVER}" }\n` : ''}`;
    const callerTls = await startSidecar(children, 'outbound (mTLS)', await write('a-tls', `${identity(client)}${service(serverTls.inbound!, true)}`), ['--outbound', '127.0.0.1:0', '--inbound', 'none']);
    const callerPlain = await startSidecar(children, 'outbound (plaintext)', await write('a-plain', service(serverPlain.inbound!, false)), ['--outbound', '127.0.0.1:0', '--inbound', 'none']);
    const meshTls = createMesh({ config: await write('in-process-tls', `${identity(client)}${service(serverTls.inbound!, true)}`), watch: false });
    const meshPlain = createMesh({ config: await write('in-process-plain', service(serverPlain.inbound!, false)), watch: false });
    meshes.push(meshTls, meshPlain);
    const clientTls = meshTls.client('backend') as unknown as Requester;
    const clientPlain = meshPlain.client('backend') as unknown as Requester;

    // The reference pair: Node's own TLS server and client, no mesh.
    const body = '{"reviews":[{"id":1,"stars":5}],"ok":true}';
    const answer = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    };
    const serverFiles = await issueLeaf(ca, SERVER);
    const clientFiles = await issueLeaf(ca, CLIENT);
    const httpsServer = createHttpsServer({ cert: serverFiles.chainPem, key: serverFiles.keyPem, ca: ca.root.certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, answer);
    const httpServer = createHttpServer(answer);
    servers.push(httpsServer, httpServer);
    await Promise.all([httpsServer, httpServer].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
    const refTls = new Pool(`https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}`, {
      connections: 64,
      connect: { ca: ca.root.certPem, cert: clientFiles.chainPem, key: clientFiles.keyPem, checkServerIdentity: () => undefined },
    });
    const refPlain = new Pool(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, { connections: 64 });
    pools.push(refTls, refPlain);

    const rounds = quick ? 2 : 5;
    const ms = quick ? 1_500 : 4_000;
    const results = { refTls: [] as number[], refPlain: [] as number[], refTlsP99: [] as number[], refPlainP99: [] as number[], inTls: [] as number[], inPlain: [] as number[], inTlsP99: [] as number[], inPlainP99: [] as number[], twoTls: [] as number[], twoPlain: [] as number[], twoTlsP99: [] as number[], twoPlainP99: [] as number[] };
    for (const warm of [clientTls, clientPlain, refTls, refPlain]) await closedLoopOf(warm as Requester, 500);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ['tls', 'plain'] : ['plain', 'tls'];
      for (const which of order) {
        const r = await closedLoopOf((which === 'tls' ? refTls : refPlain) as Requester, ms);
        (which === 'tls' ? results.refTls : results.refPlain).push(r.rps);
        (which === 'tls' ? results.refTlsP99 : results.refPlainP99).push(r.p99Ms);
      }
      for (const which of order) {
        const r = await closedLoopOf(which === 'tls' ? clientTls : clientPlain, ms);
        (which === 'tls' ? results.inTls : results.inPlain).push(r.rps);
        (which === 'tls' ? results.inTlsP99 : results.inPlainP99).push(r.p99Ms);
        console.error(`mtls-overhead: round ${round + 1}/${rounds} in-process ${which}: ${Math.round(r.rps)} req/s`);
      }
      if (tools.paths.wrk) {
        for (const which of order) {
          const caller = which === 'tls' ? callerTls : callerPlain;
          const w = await runWrk({ wrk: tools.paths.wrk, url: `http://${caller.outbound}/`, host: 'backend', threads: 1, connections: IN_FLIGHT, durationS: Math.max(1, Math.round(ms / 1000)), workDir: dir });
          (which === 'tls' ? results.twoTls : results.twoPlain).push(w.rps);
          (which === 'tls' ? results.twoTlsP99 : results.twoPlainP99).push(w.p99Ms);
          console.error(`mtls-overhead: round ${round + 1}/${rounds} two sidecars ${which}: ${Math.round(w.rps)} req/s`);
        }
      }
    }
    const nodeRatio = results.refTls.length > 0 ? median(results.refTls) / median(results.refPlain) : NaN;
    const row = (label: string, tls: number[], plain: number[], tlsP99: number[], plainP99: number[], reference = false) => {
      if (tls.length === 0) return `| ${label} | — | — | — | — | — | skipped (wrk not installed) |`;
      const ratio = median(tls) / median(plain);
      const vsNode = ratio / nodeRatio;
      const verdict = reference ? 'reference' : `${vsNode >= TARGET_VS_NODE ? 'met' : '**NOT met**'} (≥ ${TARGET_VS_NODE}×)`;
      return `| ${label} | ${Math.round(median(plain)).toLocaleString('en-US')} | ${Math.round(median(tls)).toLocaleString('en-US')} | **${ratio.toFixed(3)}×** | ${reference ? '1.000×' : `**${vsNode.toFixed(3)}×**`} | ${median(plainP99).toFixed(2)} / ${median(tlsP99).toFixed(2)} | ${verdict} |`;
    };
    const markdown = [
      '### mTLS against plaintext, with keep-alive',
      '',
      `One backend in a child process behind a mesh-sidecar inbound (strict mTLS, or plaintext); ${IN_FLIGHT} requests in flight; ${rounds} interleaved rounds of ${ms / 1000} s; medians. Certificates: ECDSA P-256 from a CA made for the run; TLS 1.3.`,
      '',
      'The fifth column divides each path\'s mTLS/plaintext ratio by Node\'s own (the reference row): what the mesh adds on top of TLS itself.',
      '',
      '| path | plaintext req/s | mTLS req/s | mTLS / plaintext | ÷ Node\'s own ratio | p99 ms plaintext / mTLS | target |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      row('in-process: meshClient → sidecar inbound', results.inTls, results.inPlain, results.inTlsP99, results.inPlainP99),
      row('two sidecars: wrk → outbound → inbound', results.twoTls, results.twoPlain, results.twoTlsP99, results.twoPlainP99),
      row('reference, no mesh: undici → node:https / node:http', results.refTls, results.refPlain, results.refTlsP99, results.refPlainP99, true),
    ].join('\n');
    return { name: 'mtls-overhead', markdown };
  } finally {
    await Promise.all(meshes.map((m) => m.close()));
    await Promise.all(pools.map((p) => p.close()));
    for (const server of servers) server.close();
    await children.stopAll();
    fleet.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs wrk (closed loop: each connection sends its next request when the last one is answered) and
 * returns its figures as numbers. wrk's own report rounds latencies to two decimals in a unit it
 * picks itself, so a tiny Lua `done` hook prints the exact microsecond values as one JSON line.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WrkOptions {
  wrk: string;
  url: string;
  /** Sent as the Host header: the sidecar picks the service from it. */
  host: string;
  threads: number;
  connections: number;
  durationS: number;
  /** Where the Lua hook is written (once per directory). */
  workDir: string;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers plus connect/read/write errors and timeouts. */
  errors: number;
}

const MARKER = 'WRK-JSON ';
const HOOK = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARKER}{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

const written = new Set<string>();

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const script = join(o.workDir, 'wrk-report.lua');
  if (!written.has(script)) {
    await writeFile(script, HOOK);
    written.add(script);
  }
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationS}s`, '--latency', '-H', `Host: ${o.host}`, '-s', script, o.url];
  const child = spawn(o.wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  const line = out.split('\n').find((l) => l.startsWith(MARKER));
  if (code !== 0 || line === undefined) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}):\n${out.trim()}`);
  const r = JSON.parse(line.slice(MARKER.length)) as { requests: number; duration_us: number; p50_us: number; p99_us: number; errors: number };
  const seconds = r.duration_us / 1e6;
  return { requests: r.requests, seconds, rps: r.requests / seconds, p50Ms: r.p50_us / 1000, p99Ms: r.p99_us / 1000, errors: r.errors };
}

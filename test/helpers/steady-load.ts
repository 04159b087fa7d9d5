/**
 * Well-behaved traffic for reliability tests: a few callers in a loop over keep-alive connections,
 * recording each request's outcome and latency until stopped, so a test can say what an attack,
 * a reload or a fault cost the callers that did nothing wrong (failures, p99).
 */
import { Pool } from 'undici';

export interface LoadReport {
  requests: number;
  failures: number;
  /** Up to the first few failures, to say what went wrong. */
  failureSamples: string[];
  p50Ms: number;
  p99Ms: number;
}

export interface SteadyLoad {
  /** Resolves once every caller has had an answer (its connection is open and in use). */
  readonly warm: Promise<void>;
  stop(): Promise<LoadReport>;
}

export interface SteadyLoadOptions {
  /** `http://host:port` of the listener to call. */
  origin: string;
  /** The Host header (a mesh service's name through the sidecar). */
  host?: string;
  path?: string;
  method?: 'GET' | 'POST';
  concurrency?: number;
  /** A response counts as a failure unless this says it is good (default: 2xx). */
  ok?: (status: number) => boolean;
  /** Pause between one caller's requests, ms (0: back to back). */
  pauseMs?: number;
}

export function steadyLoad(options: SteadyLoadOptions): SteadyLoad {
  const pool = new Pool(options.origin, { connections: options.concurrency ?? 4, pipelining: 1 });
  const latencies: number[] = [];
  const failureSamples: string[] = [];
  let failures = 0;
  let running = true;
  const ok = options.ok ?? ((status: number) => status >= 200 && status < 300);
  const concurrency = options.concurrency ?? 4;
  let cold = concurrency;
  let warmed!: () => void;
  const warm = new Promise<void>((resolve) => (warmed = resolve));
  const caller = async () => {
    let first = true;
    while (running) {
      const started = performance.now();
      try {
        const res = await pool.request({ method: options.method ?? 'GET', path: options.path ?? '/', headers: options.host ? { host: options.host } : {} });
        const body = await res.body.text();
        if (!ok(res.statusCode)) {
          failures++;
          if (failureSamples.length < 5) failureSamples.push(`${res.statusCode} ${res.headers['x-meshwork-error'] ?? ''} ${body.slice(0, 200)}`);
        }
      } catch (err) {
        failures++;
        if (failureSamples.length < 5) failureSamples.push(String((err as Error).message));
      }
      latencies.push(performance.now() - started);
      if (first && --cold === 0) warmed();
      first = false;
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const callers = Array.from({ length: concurrency }, caller);
  return {
    warm,
    async stop() {
      running = false;
      await Promise.all(callers);
      await pool.close();
      const sorted = latencies.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return { requests: latencies.length, failures, failureSamples, p50Ms: at(0.5), p99Ms: at(0.99) };
    },
  };
}

/**
 * What wrapping a call that succeeds costs: meshwork's retry filter versus p-retry, side by side in
 * one run, against the bare call. The call is in-process (no network), so the figures are the pure
 * per-call overhead of each wrapper; backoff.ts cites them to explain why retries do not use p-retry.
 *
 *   node --import tsx benchmarks/retry-overhead.ts
 */
import os from 'node:os';
import pRetry from 'p-retry';
import { Params } from '../src/core/params.js';
import { newCallContext, type Service } from '../src/core/service.js';
import type { MeshRequest, MeshResponse } from '../src/http/http-types.js';
import { retryModule } from '../src/filters/retry.js';

const response = { statusCode: 200, headers: {}, trailers: {}, opaque: null, context: {}, body: null } as unknown as MeshResponse;
const terminal: Service<MeshRequest, MeshResponse> = {
  call: async () => response,
  close: async () => {},
};
const filtered = retryModule.make(Params.empty, terminal);
const req: MeshRequest = { method: 'GET', path: '/' };
const ctx = newCallContext('bench');

const cases: [string, () => Promise<MeshResponse>][] = [
  ['bare call (baseline)', () => terminal.call(req, ctx)],
  ['meshwork retry filter', () => filtered.call(req, ctx)],
  ['pRetry(call, { retries: 3 })', () => pRetry(() => terminal.call(req, ctx), { retries: 3 })],
];

async function opsPerSecond(fn: () => Promise<MeshResponse>, ms: number): Promise<number> {
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1_000; i++) await fn();
    ops += 1_000;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

for (const [, fn] of cases) await opsPerSecond(fn, 300);
// Rounds interleave the cases so drift (thermal, GC) hits all of them alike; the median is reported.
const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < 5; round++) {
  for (const [name, fn] of cases) results.get(name)!.push(await opsPerSecond(fn, 400));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const baseline = median(results.get(cases[0]![0])!);

console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.cpus().length}, ${os.platform()} ${os.arch()}`);
console.log('case                              ops/s   ratio   ns/op');
for (const [name] of cases) {
  const ops = median(results.get(name)!);
  console.log(`${name.padEnd(30)} ${(ops / 1e6).toFixed(2).padStart(6)} M   ${(ops / baseline).toFixed(2)}  ${(1e9 / ops).toFixed(0).padStart(6)}`);
}

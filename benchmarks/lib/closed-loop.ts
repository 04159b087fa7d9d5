/**
 * A closed-loop load: `inFlight` workers each send, wait for the answer, and send again, for `ms`.
 * Reports throughput and the p99 of the per-call latency.
 */
import { createHistogram } from 'node:perf_hooks';

export async function closedLoop(send: () => Promise<unknown>, inFlight: number, ms: number): Promise<{ rps: number; p99Ms: number }> {
  const histogram = createHistogram();
  let done = 0;
  const stopAt = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const t0 = process.hrtime.bigint();
      await send();
      histogram.record(Number(process.hrtime.bigint() - t0) || 1);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { rps: done / ((performance.now() - started) / 1000), p99Ms: histogram.percentile(99) / 1e6 };
}

/** The middle value (the upper middle for an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

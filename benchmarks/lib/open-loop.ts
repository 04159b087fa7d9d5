/**
 * Open-loop load: requests start on a fixed schedule whatever the responses do, as real traffic does.
 * (A closed loop slows down with the server and hides exactly the tail latency we want to see.)
 */
export interface OpenLoopResult {
  sent: number;
  ok: number;
  failed: number;
  /** Latencies of every request in ms, sorted ascending (failures count at the time they failed). */
  latencies: number[];
}

export async function openLoop(rps: number, durationMs: number, send: () => Promise<boolean>, onTick?: (elapsedMs: number) => void): Promise<OpenLoopResult> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const intervalMs = 1000 / rps;
  let sent = 0;
  while (performance.now() - started < durationMs) {
    const due = Math.floor((performance.now() - started) / intervalMs) + 1;
    while (sent < due) {
      sent++;
      const t0 = performance.now();
      pending.push(
        send().then(
          (success) => {
            latencies.push(performance.now() - t0);
            if (success) ok++;
            else failed++;
          },
          () => {
            latencies.push(performance.now() - t0);
            failed++;
          },
        ),
      );
    }
    onTick?.(performance.now() - started);
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { sent, ok, failed, latencies };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

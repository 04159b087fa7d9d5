/**
 * CPU time per call: `calls` calls with `inFlight` workers, and the process's user + system CPU over
 * them (process.cpuUsage). On a shared machine throughput moves with whatever else runs; the CPU a
 * call costs this process moves much less, so it is the steadier figure for comparing two clients.
 */
export async function cpuPerCall(send: () => Promise<unknown>, inFlight: number, calls: number): Promise<{ cpuUs: number }> {
  let left = calls;
  const worker = async () => {
    while (left > 0) {
      left--;
      await send();
    }
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const used = process.cpuUsage(before);
  return { cpuUs: (used.user + used.system) / calls };
}

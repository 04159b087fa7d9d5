/**
 * Whether a process the tests did not spawn themselves (a grandchild) is still running. A killed
 * orphan can stay a zombie for as long as the init process does not reap it, and a zombie runs
 * nothing, so it counts as gone.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state is the first field after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Resolves with the processes still running once all have gone or `withinMs` has passed. A signal
 * sent to another process's child gives no event to await, so this polls.
 */
export async function stillRunningAfter(pids: number[], withinMs = 5_000): Promise<number[]> {
  const until = Date.now() + withinMs;
  let running = pids.filter(isRunning);
  while (running.length > 0 && Date.now() < until) {
    await sleep(50);
    running = running.filter(isRunning);
  }
  return running;
}

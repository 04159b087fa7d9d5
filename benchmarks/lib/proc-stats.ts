/**
 * CPU time and memory of a process and everything it forked, read from Linux's /proc. A proxy is
 * judged by the whole tree (nginx's master plus worker, for instance), since that is what a user
 * would pay for; a process that has already exited simply stops contributing.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** utime/stime in /proc are in clock ticks, whose length is a kernel build setting (almost always 100 Hz). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * Fields of /proc/<pid>/stat after the command name. The name is in parentheses and may itself hold
 * spaces or parentheses, so the split starts after the LAST ')'. Index 0 is field 3 (state).
 */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and all of its descendants that are alive now. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const queue = statFields(pid) ? [pid] : [];
  while (queue.length > 0) {
    const next = queue.shift()!;
    tree.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return tree;
}

/** User + system CPU seconds consumed so far by the given processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    // Fields 14 and 15 of stat: utime and stime.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / clockTicks();
}

export interface Memory {
  /** Resident set now, MB (10^6 bytes would flatter; these are MiB, as `ps` and `top` show). */
  rssMb: number;
  /** Peak resident set since the process started (VmHWM), MiB. */
  peakMb: number;
}

export function memory(pids: number[]): Memory {
  let rssKb = 0;
  let peakKb = 0;
  for (const pid of pids) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    peakKb += Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return { rssMb: rssKb / 1024, peakMb: peakKb / 1024 };
}

/**
 * Calls `check` soon after any of some files may have changed. Directories are watched, not the
 * files, because editors and Kubernetes volumes (ConfigMaps, Secrets) replace files by renaming
 * over them; a slow poll covers filesystems without change events. Bursts of events are coalesced,
 * and checks never overlap: what changed is for `check` to decide (by comparing content).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Clock, TimerHandle } from './clock.js';

export interface WatchPathsOptions {
  clock: Clock;
  /** Coalesces the burst of events one save produces, ms. */
  debounceMs: number;
  /** Fallback poll, ms. */
  pollIntervalMs: number;
  /** Check once right away, rather than at the first event or poll. */
  immediate?: boolean;
}

/** `close()` stops watching and resolves once a check that was running has finished. */
export function watchPaths(paths: string[], check: () => Promise<void>, options: WatchPathsOptions): { close(): Promise<void> } {
  const { clock, debounceMs, pollIntervalMs } = options;
  let closed = false;
  let timer: TimerHandle | undefined;
  let poll: TimerHandle | undefined;
  let running = Promise.resolve();

  const schedule = (ms: number) => {
    if (closed) return;
    timer?.cancel();
    timer = clock.setTimer(() => {
      running = running.then(check).catch(() => undefined).finally(() => {
        poll?.cancel();
        if (!closed) poll = clock.setTimer(() => schedule(0), pollIntervalMs);
      });
    }, ms);
  };

  const watchers: FSWatcher[] = [];
  const byDirectory = new Map<string, Set<string>>();
  for (const path of paths) {
    const names = byDirectory.get(dirname(path)) ?? new Set<string>();
    names.add(basename(path));
    byDirectory.set(dirname(path), names);
  }
  for (const [directory, names] of byDirectory) {
    try {
      const watcher = watch(directory, { persistent: false }, (_event, file) => {
        // Kubernetes swaps a ..data symlink, so any event in the directory may be ours.
        if (file === null || names.has(file) || file.startsWith('..')) schedule(debounceMs);
      });
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // Without events the poll alone notices changes.
    }
  }
  if (options.immediate) schedule(0);
  else poll = clock.setTimer(() => schedule(0), pollIntervalMs);
  return {
    close() {
      closed = true;
      for (const watcher of watchers) watcher.close();
      timer?.cancel();
      poll?.cancel();
      return running.then(() => undefined, () => undefined);
    },
  };
}

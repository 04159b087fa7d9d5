/**
 * Watches a config file and hands over each valid new version. The directory is watched, not the
 * file, because editors and Kubernetes ConfigMap volumes replace files by renaming over them; a slow
 * poll covers filesystems without change events. A change that does not parse is reported and
 * dropped: the caller keeps running the last good config. Saving the same content twice is no change.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { parseMeshConfig, type MeshConfig } from './mesh-config.js';

export interface ConfigWatcherOptions {
  onChange(config: MeshConfig): void;
  onError(error: Error): void;
  clock?: Clock;
  /** Coalesces the burst of events one save produces, ms. Default 100. */
  debounceMs?: number;
  /** Fallback poll, ms. Default 2 000. */
  pollIntervalMs?: number;
}

export function watchConfigFile(path: string, options: ConfigWatcherOptions): { close(): void } {
  const clock = options.clock ?? systemClock;
  const debounceMs = options.debounceMs ?? 100;
  const pollMs = options.pollIntervalMs ?? 2_000;
  let lastText: string | undefined;
  let closed = false;
  let timer: TimerHandle | undefined;
  let poll: TimerHandle | undefined;
  let reading = Promise.resolve();

  const check = async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (!closed) options.onError(new MeshError('INVALID_CONFIG', `${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? 'error'}); keeping the last good config`));
      return;
    }
    if (closed || text === lastText) return;
    lastText = text;
    let config: MeshConfig;
    try {
      config = parseMeshConfig(text, path);
    } catch (err) {
      options.onError(err as Error);
      return;
    }
    options.onChange(config);
  };
  const schedule = (ms: number) => {
    if (closed) return;
    timer?.cancel();
    timer = clock.setTimer(() => {
      reading = reading.then(check).finally(() => {
        poll?.cancel();
        if (!closed) poll = clock.setTimer(() => schedule(0), pollMs);
      });
    }, ms);
  };

  // The current content is the baseline: only later changes are reported.
  void readFile(path, 'utf8').then(
    (text) => {
      lastText ??= text;
    },
    () => undefined,
  );
  let watcher: FSWatcher | undefined;
  try {
    const name = basename(path);
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file === null || file === name) schedule(debounceMs);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // Without events the poll alone notices changes.
  }
  poll = clock.setTimer(() => schedule(0), pollMs);
  return {
    close() {
      closed = true;
      watcher?.close();
      timer?.cancel();
      poll?.cancel();
    },
  };
}

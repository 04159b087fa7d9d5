/**
 * Watches a config file (see watch-paths.ts for how) and hands over each valid new version. A
 * change that does not parse is reported and dropped: the caller keeps running the last good
 * config. Saving the same content twice is no change, and a file that stays unreadable is reported
 * once, not on every poll.
 */
import { readFile } from 'node:fs/promises';
import { systemClock, type Clock } from '../core/clock.js';
import { watchPaths } from '../core/watch-paths.js';
import { MeshError } from '../core/errors.js';
import { EmptyConfigError, parseMeshConfig, type MeshConfig } from './mesh-config.js';

/** Why a change was rejected: no document in the file, a file that does not validate, or no file to read. */
export type ConfigRejection = 'empty' | 'invalid' | 'unreadable';

export interface ConfigWatcherOptions {
  onChange(config: MeshConfig): void;
  onError(error: Error, reason: ConfigRejection): void;
  clock?: Clock;
  /** Coalesces the burst of events one save produces, ms. Default 100. */
  debounceMs?: number;
  /** Fallback poll, ms. Default 2 000. */
  pollIntervalMs?: number;
  /**
   * The text the caller already loaded: changes are reported against it. Without it the file is
   * read again for a baseline, and a change written before that read finishes would go unnoticed.
   */
  baseline?: string;
}

export function watchConfigFile(path: string, options: ConfigWatcherOptions): { close(): void } {
  let lastText: string | undefined = options.baseline;
  let lastReadError: string | undefined;
  let closed = false;

  const check = async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (closed || code === lastReadError) return;
      lastReadError = code;
      // Whatever comes back, even the same text, is a change from "unreadable".
      lastText = undefined;
      options.onError(new MeshError('INVALID_CONFIG', `${path}: cannot read the config file (${code}); keeping the last good config`), 'unreadable');
      return;
    }
    lastReadError = undefined;
    if (closed || text === lastText) return;
    lastText = text;
    let config: MeshConfig;
    try {
      config = parseMeshConfig(text, path);
    } catch (err) {
      options.onError(err as Error, err instanceof EmptyConfigError ? 'empty' : 'invalid');
      return;
    }
    options.onChange(config);
  };

  // The current content is the baseline: only later changes are reported.
  if (options.baseline === undefined) {
    void readFile(path, 'utf8').then(
      (text) => {
        lastText ??= text;
      },
      () => undefined,
    );
  }
  const watcher = watchPaths([path], check, {
    clock: options.clock ?? systemClock,
    debounceMs: options.debounceMs ?? 100,
    pollIntervalMs: options.pollIntervalMs ?? 2_000,
  });
  return {
    close() {
      closed = true;
      watcher.close();
    },
  };
}

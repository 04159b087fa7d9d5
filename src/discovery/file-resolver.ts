/**
 * Endpoints from a JSON or YAML file that something else keeps up to date (a deploy script, a
 * config-management agent, a Kubernetes ConfigMap mounted as a volume), watched as the config and
 * identity files are (core/watch-paths.ts: the directory, and a slow poll).
 *
 * A bad file (unreadable, bad YAML, bad entry, missing) is reported and ignored: the last good set
 * stays in use, because a half-written file must never empty a service's endpoint set.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { systemClock, type Clock } from '../core/clock.js';
import { watchPaths } from '../core/watch-paths.js';
import type { EndpointAddress } from './endpoint-address.js';
import { readEndpointList, sameEndpointSet } from './endpoint-list.js';
import type { Resolver, ResolverListener } from './resolver.js';

export interface FileResolverOptions {
  path: string;
  clock?: Clock;
  /** Fallback poll for filesystems without change events, ms. Default 2 000. */
  pollIntervalMs?: number;
  /** Coalesces the burst of events one save produces, ms. Default 50. */
  debounceMs?: number;
}

export class FileResolver implements Resolver {
  readonly description: string;
  readonly #path: string;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #debounceMs: number;
  #listener: ResolverListener | undefined;
  #watch: { close(): Promise<void> } | undefined;
  #last: readonly EndpointAddress[] | undefined;
  #lastError: string | undefined;
  #closed = false;

  constructor(options: FileResolverOptions) {
    this.#path = resolve(options.path);
    this.#clock = options.clock ?? systemClock;
    this.#pollMs = options.pollIntervalMs ?? 2_000;
    this.#debounceMs = options.debounceMs ?? 50;
    this.description = `file:${this.#path}`;
  }

  start(listener: ResolverListener): void {
    this.#listener = listener;
    // The directory may not exist yet; the poll notices when it does.
    this.#watch = watchPaths([this.#path], () => this.#read(), { clock: this.#clock, debounceMs: this.#debounceMs, pollIntervalMs: this.#pollMs, immediate: true });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watch?.close();
  }

  async #read(): Promise<void> {
    if (this.#closed) return;
    try {
      const set = await this.#load();
      if (this.#closed) return;
      this.#lastError = undefined;
      if (!sameEndpointSet(this.#last, set)) {
        this.#last = set;
        this.#listener?.onEndpoints(set);
      }
    } catch (err) {
      const message = (err as Error).message;
      // Report each distinct problem once, not on every poll.
      if (!this.#closed && message !== this.#lastError) {
        this.#lastError = message;
        this.#listener?.onError(err as Error);
      }
    }
  }

  async #load(): Promise<EndpointAddress[]> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(`${this.#path}: cannot read endpoint file (${code}); keeping the last known endpoints`);
    }
    let parsed: unknown;
    try {
      parsed = parse(text);
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : '';
      throw new Error(`${this.#path}${where}: not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}; keeping the last known endpoints`);
    }
    try {
      return readEndpointList(parsed);
    } catch (err) {
      throw new Error(`${this.#path}: ${(err as Error).message}; keeping the last known endpoints`);
    }
  }
}

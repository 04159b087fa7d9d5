/**
 * Keeps a local copy of one Kubernetes collection (filtered by label and field selectors) the way
 * client-go's reflector does: list, then watch from the list's resourceVersion, apply each event,
 * and carry on from the last resourceVersion seen (bookmarks included) when a watch ends.
 *
 * - A watch ends normally after its timeoutSeconds; the next one resumes at once. timeoutSeconds is
 *   jittered so that many clients do not reconnect in step, and kept below undici's body timeout so
 *   the server, not the client, ends a quiet stream.
 * - 410 Gone means that resourceVersion is older than the server keeps: as an HTTP status or as a
 *   200 followed by an ERROR event (servers send both). The collection is listed again, and the new
 *   list replaces the copy whole, so nothing is lost or counted twice.
 * - A refused connection, a reset stream, 429 and 5xx: wait (exponential, with jitter, on the
 *   injected clock; a 429's Retry-After is honoured) and resume from the last resourceVersion.
 * Throughout, the copy keeps its last state: consumers go on serving from it.
 */
import { systemClock, systemRandom, type Clock, type Random } from '../../core/clock.js';
import { ExponentialBackoff, sleep } from '../../policy/backoff.js';
import { JsonLines } from './json-lines.js';
import { isGone, KubeApiError, type KubeApiClient, type KubeStatus, type Query } from './kube-api-client.js';

export interface KubeObject {
  kind?: string;
  apiVersion?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

interface WatchEvent {
  type?: string;
  object?: unknown;
}

export interface ListWatchOptions {
  client: KubeApiClient;
  /** The collection, e.g. `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  clock?: Clock;
  random?: Random;
  /** The watch's timeoutSeconds, before jitter (up to 20% less). Default 300. */
  watchTimeoutSeconds?: number;
  /** Waits after failures: the n-th waits between half and all of min(maxMs, baseMs * 2^(n-1)). Defaults 1 000 and 30 000. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Items per list page. Default 500. */
  pageSize?: number;
}

export interface ListWatchListener<T> {
  /** The whole collection as now known: after every list, and after each batch of watch events. */
  onObjects(objects: ReadonlyMap<string, T>): void;
  /** A list or watch failed; it is retried after a backoff, and the copy keeps its last state. */
  onError(error: Error): void;
  /** A list or watch succeeded after failures. */
  onRecovered?(): void;
}

export interface ListWatchStats {
  lists: number;
  watches: number;
  /** Relists because the server answered 410 Gone (either way). */
  relists: number;
  failures: number;
}

/** A watch that delivered nothing before it ended is waited on like a failure, so a server that closes at once cannot spin us. */
type WatchOutcome = 'events' | 'empty';

export class ListWatch<T extends KubeObject> {
  readonly stats: ListWatchStats = { lists: 0, watches: 0, relists: 0, failures: 0 };
  readonly #options: ListWatchOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #backoff: ExponentialBackoff;
  readonly #abort = new AbortController();
  #listener: ListWatchListener<T> | undefined;
  #objects = new Map<string, T>();
  #resourceVersion: string | undefined;
  #failures = 0;
  #running: Promise<void> = Promise.resolve();

  constructor(options: ListWatchOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#backoff = new ExponentialBackoff({ baseMs: options.backoff?.baseMs ?? 1_000, maxMs: options.backoff?.maxMs ?? 30_000 }, this.#random);
  }

  /** The resourceVersion the next watch resumes from; undefined before the first list and after a 410. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  start(listener: ListWatchListener<T>): void {
    this.#listener = listener;
    this.#running = this.#run();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  get #closed(): boolean {
    return this.#abort.signal.aborted;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        if (this.#resourceVersion === undefined) await this.#list();
        if ((await this.#watch()) === 'empty') await this.#wait(this.#delay(Math.max(1, this.#failures)));
      } catch (err) {
        if (this.#closed) return;
        if (isGone(err)) {
          this.stats.relists++;
          this.#resourceVersion = undefined;
          continue;
        }
        this.#failures++;
        this.stats.failures++;
        this.#listener?.onError(err as Error);
        await this.#wait(this.#delay(this.#failures, (err as KubeApiError).retryAfterMs));
      }
    }
  }

  #succeeded(): void {
    if (this.#failures === 0) return;
    this.#failures = 0;
    this.#listener?.onRecovered?.();
  }

  #delay(failures: number, retryAfterMs = 0): number {
    const ceiling = this.#backoff.ceilingFor(failures);
    // Half fixed, half random: spread out, yet never an immediate retry against a server in trouble.
    return Math.max(retryAfterMs, ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  async #wait(ms: number): Promise<void> {
    await sleep(this.#clock, ms, this.#abort.signal).catch(() => undefined);
  }

  #query(): Query {
    return { labelSelector: this.#options.labelSelector, fieldSelector: this.#options.fieldSelector };
  }

  async #list(): Promise<void> {
    const { client, path } = this.#options;
    const items = new Map<string, T>();
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await client.get<KubeList<T>>(path, { ...this.#query(), limit: this.#options.pageSize ?? 500, continue: next }, this.#abort.signal);
      if (!Array.isArray(page.items)) throw new KubeApiError(`${client.credentials.server}${path}: the answer to a list is not a list (no items)`, 500);
      for (const item of page.items) items.set(objectKey(item), item);
      // Every page of one list is a snapshot at the first page's version.
      resourceVersion ??= page.metadata?.resourceVersion;
      next = page.metadata?.continue || undefined;
    } while (next !== undefined);
    if (!resourceVersion) throw new KubeApiError(`${client.credentials.server}${path}: the list has no metadata.resourceVersion to watch from`, 500);
    this.#objects = items;
    this.#resourceVersion = resourceVersion;
    this.stats.lists++;
    this.#succeeded();
    this.#listener?.onObjects(this.#objects);
  }

  async #watch(): Promise<WatchOutcome> {
    const { client, path } = this.#options;
    const timeoutSeconds = Math.max(1, Math.round((this.#options.watchTimeoutSeconds ?? 300) * (0.8 + 0.2 * this.#random())));
    const body = await client.stream(
      path,
      { ...this.#query(), watch: 1, resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      { signal: this.#abort.signal, bodyTimeoutMs: (timeoutSeconds + 30) * 1_000 },
    );
    this.stats.watches++;
    this.#succeeded();
    const lines = new JsonLines();
    let events = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let changed = false;
        try {
          for (const event of lines.push(chunk)) {
            events++;
            if (this.#apply(event as WatchEvent)) changed = true;
          }
        } finally {
          // Events before an ERROR in the same chunk still happened.
          if (changed) this.#listener?.onObjects(this.#objects);
        }
      }
    } catch (err) {
      if (err instanceof KubeApiError || this.#closed) throw err;
      throw new KubeApiError(`${client.credentials.server}${path}: the watch stream broke (${(err as { code?: string }).code ?? (err as Error).message})`, 0, { cause: err });
    } finally {
      body.destroy();
    }
    if (lines.pendingBytes > 0) throw new KubeApiError(`${client.credentials.server}${path}: the watch stream ended in the middle of an event`, 0);
    return events > 0 ? 'events' : 'empty';
  }

  /** Applies one watch event; true when the collection changed. */
  #apply(event: WatchEvent): boolean {
    const object = event.object as T | undefined;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        if (!object?.metadata?.name) throw new KubeApiError(`${this.#options.path}: a ${event.type} event without an object name`, 500);
        if (event.type === 'DELETED') this.#objects.delete(objectKey(object));
        else this.#objects.set(objectKey(object), object);
        this.#resourceVersion = object.metadata.resourceVersion ?? this.#resourceVersion;
        return true;
      }
      case 'BOOKMARK':
        // Only the version: the point to resume from, though nothing in the selection changed.
        this.#resourceVersion = object?.metadata?.resourceVersion ?? this.#resourceVersion;
        return false;
      case 'ERROR': {
        const status = (event.object ?? {}) as KubeStatus;
        throw new KubeApiError(`${this.#options.client.credentials.server}${this.#options.path}: watch ERROR ${status.code ?? '?'}${status.reason ? ` ${status.reason}` : ''}: ${status.message ?? 'no message'}`, status.code ?? 500, {
          reason: status.reason,
        });
      }
      default:
        // Types added to the API later carry nothing this copy needs.
        return false;
    }
  }
}

export function objectKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

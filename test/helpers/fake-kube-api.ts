/**
 * A Kubernetes API server for tests, real HTTP(S) on 127.0.0.1, speaking the wire protocol the way
 * kube-apiserver does (see test/fixtures/kubernetes/ for the captured shapes it reproduces):
 *
 * - GET a collection: a `<Kind>List` with metadata.resourceVersion, `limit`/`continue` paging, label
 *   selectors (=, ==, !=, exists, !exists, in, notin) and field selectors on metadata.name/namespace.
 *   Items of built-in types carry no kind/apiVersion (the typed codec leaves them out), CRD items do.
 * - `?watch=1&resourceVersion=N`: a chunked stream of one JSON event per line, replaying history
 *   after N; ADDED/MODIFIED/DELETED (an object that stops matching the selector is DELETED for that
 *   watch), BOOKMARK when asked (allowWatchBookmarks) and before a `timeoutSeconds` expiry ends the
 *   stream; a version older than the compacted history gets 410, as an HTTP status or as a 200 with
 *   an ERROR event (`expiredAs`).
 * - Bearer tokens (401 Status otherwise) or, over TLS, a client certificate signed by the cluster CA.
 * - What goes wrong in production, on demand: 429 with Retry-After and 500 (`failNext`), a stream
 *   reset mid-line (`resetWatches`), the whole server down and back on the same port (`stop`/`start`),
 *   and events written in pieces of a few bytes, each its own write (`splitWrites`).
 */
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';

export interface ResourceType {
  prefix: string;
  plural: string;
  kind: string;
  apiVersion: string;
  /** Built-in types are served by the typed codec, whose list items have no kind/apiVersion. */
  builtIn: boolean;
  /** Zero-valued fields of the type that a BOOKMARK's empty object still serializes. */
  bookmarkFields?: Record<string, unknown>;
}

export const RESOURCES = {
  endpointslices: { prefix: '/apis/discovery.k8s.io/v1', plural: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', builtIn: true, bookmarkFields: { addressType: '', endpoints: null, ports: null } },
  serviceprofiles: { prefix: '/apis/linkerd.io/v1alpha2', plural: 'serviceprofiles', kind: 'ServiceProfile', apiVersion: 'linkerd.io/v1alpha2', builtIn: false },
  configmaps: { prefix: '/api/v1', plural: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', builtIn: true },
  pods: { prefix: '/api/v1', plural: 'pods', kind: 'Pod', apiVersion: 'v1', builtIn: true },
} satisfies Record<string, ResourceType>;

export type Plural = keyof typeof RESOURCES;

export interface KubeObjectInput {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

interface StoredObject extends KubeObjectInput {
  kind: string;
  apiVersion: string;
  metadata: KubeObjectInput['metadata'] & { namespace: string; resourceVersion: string; uid: string };
}

interface HistoryEvent {
  rv: number;
  plural: Plural;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: StoredObject;
  previous: StoredObject | undefined;
}

interface Watcher {
  plural: Plural;
  namespace: string | undefined;
  matches: (o: StoredObject) => boolean;
  bookmarks: boolean;
  res: ServerResponse;
  token: string | undefined;
  writes: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

export interface RequestRecord {
  path: string;
  query: URLSearchParams;
  watch: boolean;
  token: string | undefined;
  status: number;
}

export interface FakeKubeApiOptions {
  tls?: { certPem: string; keyPem: string; caPem: string };
  /** Accepted bearer tokens; without this set, every request is let in. */
  tokens?: Iterable<string>;
}

const STATUS = (code: number, reason: string, message: string, details?: Record<string, unknown>) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});

export class FakeKubeApi extends EventEmitter {
  readonly requests: RequestRecord[] = [];
  /** Accepted tokens; change it to revoke or rotate. Undefined: no authentication. */
  tokens: Set<string> | undefined;
  /** How a watch from a compacted version is refused: HTTP 410, or 200 then an ERROR event. */
  expiredAs: 'status' | 'event' = 'event';
  /** Write each event line in pieces of 1 to 7 bytes, each a separate write on a later tick. */
  splitWrites = false;
  #resourceVersion = 1000;
  #compactedAt = 0;
  readonly #objects = new Map<Plural, Map<string, StoredObject>>();
  #history: HistoryEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #sockets = new Set<Socket>();
  #failures: { status: number; retryAfterSeconds?: number; only?: 'list' | 'watch' }[] = [];
  #server: Server;
  #port = 0;
  #stopped = false;
  readonly #options: FakeKubeApiOptions;

  private constructor(options: FakeKubeApiOptions) {
    super();
    this.#options = options;
    this.tokens = options.tokens ? new Set(options.tokens) : undefined;
    this.#server = this.#makeServer();
  }

  static async start(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(options);
    await api.start();
    return api;
  }

  get url(): string {
    return `${this.#options.tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`;
  }

  get resourceVersion(): number {
    return this.#resourceVersion;
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  /** Listens (again, on the same port after a stop). */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#server = this.#makeServer();
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** The API server goes away: the port refuses connections and open watches are cut. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const w of this.#watchers) this.#endWatch(w);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  close(): Promise<void> {
    return this.stop();
  }

  // ---- the store -------------------------------------------------------------------------

  /** Creates or replaces an object; watchers see ADDED or MODIFIED. Returns the stored copy. */
  put(plural: Plural, input: KubeObjectInput): StoredObject {
    const type = RESOURCES[plural];
    const namespace = input.metadata.namespace ?? 'default';
    const key = `${namespace}/${input.metadata.name}`;
    const objects = this.#collection(plural);
    const previous = objects.get(key);
    const rv = ++this.#resourceVersion;
    const object: StoredObject = {
      kind: type.kind,
      apiVersion: type.apiVersion,
      ...structuredClone(input),
      metadata: {
        uid: previous?.metadata.uid ?? randomUUID(),
        creationTimestamp: '2024-05-01T10:00:00Z',
        ...structuredClone(input.metadata),
        namespace,
        resourceVersion: String(rv),
      },
    } as StoredObject;
    objects.set(key, object);
    this.#record({ rv, plural, type: previous ? 'MODIFIED' : 'ADDED', object, previous });
    return object;
  }

  delete(plural: Plural, namespace: string, name: string): void {
    const objects = this.#collection(plural);
    const key = `${namespace}/${name}`;
    const previous = objects.get(key);
    if (!previous) throw new Error(`no ${plural} ${key} to delete`);
    objects.delete(key);
    const rv = ++this.#resourceVersion;
    this.#record({ rv, plural, type: 'DELETED', object: { ...previous, metadata: { ...previous.metadata, resourceVersion: String(rv) } }, previous });
  }

  get(plural: Plural, namespace: string, name: string): StoredObject | undefined {
    return this.#collection(plural).get(`${namespace}/${name}`);
  }

  /** Forgets the history: a watch from any version before now gets 410 Gone. */
  compact(): void {
    this.#compactedAt = this.#resourceVersion;
    this.#history = [];
  }

  /** Sends a BOOKMARK at the current version to every watch that allows bookmarks. */
  bookmark(): void {
    for (const w of this.#watchers) if (w.bookmarks) this.#send(w, this.#bookmarkEvent(w.plural));
  }

  /** The next `count` requests (of one kind, if given) fail with `status`. */
  failNext(count: number, status: number, options: { retryAfterSeconds?: number; only?: 'list' | 'watch' } = {}): void {
    for (let i = 0; i < count; i++) this.#failures.push({ status, ...options });
  }

  /** Cuts every open watch: after half an event line when `midLine`, else between events. */
  resetWatches(options: { midLine?: boolean } = {}): void {
    for (const w of [...this.#watchers]) {
      this.#watchers.delete(w);
      if (w.timer) clearTimeout(w.timer);
      w.writes = w.writes.then(async () => {
        if (options.midLine) {
          const line = JSON.stringify(this.#bookmarkEvent(w.plural));
          await write(w.res, line.slice(0, Math.floor(line.length / 2)));
        }
        w.res.socket?.destroy();
      });
    }
  }

  /** Resolves when the next watch (of `plural`, if given) is open; rejects after `timeoutMs` rather than hang a test. */
  nextWatch(plural?: Plural, timeoutMs = 10_000): Promise<RequestRecord> {
    return this.#next('watch', plural, timeoutMs);
  }

  /** Resolves when the next list (of `plural`, if given) has been asked for. */
  nextList(plural?: Plural, timeoutMs = 10_000): Promise<RequestRecord> {
    return this.#next('list', plural, timeoutMs);
  }

  #next(what: 'watch' | 'list', plural: Plural | undefined, timeoutMs: number): Promise<RequestRecord> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(what, onEvent);
        reject(new Error(`no ${plural ?? ''} ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onEvent = (record: RequestRecord, p: Plural) => {
        if (plural !== undefined && p !== plural) return;
        this.off(what, onEvent);
        clearTimeout(timer);
        resolve(record);
      };
      this.on(what, onEvent);
    });
  }

  /** Resolves once every line written so far to open watches has been flushed. */
  async flushed(): Promise<void> {
    await Promise.all([...this.#watchers].map((w) => w.writes));
  }

  // ---- HTTP -------------------------------------------------------------------------------

  #makeServer(): Server {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res);
    const tls = this.#options.tls;
    const server = tls
      ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem, ca: tls.caPem, requestCert: true, rejectUnauthorized: false }, handler)
      : createHttpServer(handler);
    // Every TCP connection, TLS handshakes still under way included: a stopped server must answer nothing.
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    return server;
  }

  #collection(plural: Plural): Map<string, StoredObject> {
    let objects = this.#objects.get(plural);
    if (!objects) this.#objects.set(plural, (objects = new Map()));
    return objects;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.#stopped) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const watch = url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true';
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    const record: RequestRecord = { path: url.pathname, query: url.searchParams, watch, token, status: 200 };
    this.requests.push(record);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };

    const clientCertOk = (req.socket as TLSSocket).authorized === true;
    if (this.tokens && !clientCertOk && (token === undefined || !this.tokens.has(token))) {
      return reply(401, STATUS(401, 'Unauthorized', 'Unauthorized'));
    }
    const failure = this.#failures.find((f) => f.only === undefined || f.only === (watch ? 'watch' : 'list'));
    if (failure) {
      this.#failures.splice(this.#failures.indexOf(failure), 1);
      if (failure.status === 429) {
        const seconds = failure.retryAfterSeconds ?? 1;
        return reply(429, STATUS(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: seconds }), { 'retry-after': String(seconds) });
      }
      return reply(failure.status, STATUS(failure.status, 'InternalError', 'Internal error occurred: etcdserver: request timed out', { causes: [{ message: 'etcdserver: request timed out' }] }));
    }
    const target = this.#route(url.pathname);
    if (!target || req.method !== 'GET') return reply(404, STATUS(404, 'NotFound', 'the server could not find the requested resource'));

    let matches: (o: StoredObject) => boolean;
    try {
      matches = selectorMatcher(url.searchParams.get('labelSelector') ?? '', url.searchParams.get('fieldSelector') ?? '');
    } catch (err) {
      return reply(400, STATUS(400, 'BadRequest', (err as Error).message));
    }
    const inScope = (o: StoredObject) => (target.namespace === undefined || o.metadata.namespace === target.namespace) && matches(o);
    if (watch) return this.#watch(req, res, record, target.plural, target.namespace, inScope, url.searchParams);
    this.emit('list', record, target.plural);
    this.#list(url.searchParams, target.plural, inScope, reply);
  }

  #route(path: string): { plural: Plural; namespace: string | undefined } | undefined {
    for (const [plural, type] of Object.entries(RESOURCES) as [Plural, ResourceType][]) {
      if (path === `${type.prefix}/${plural}`) return { plural, namespace: undefined };
      const m = new RegExp(`^${type.prefix.replace(/\./g, '\\.')}/namespaces/([a-z0-9-]+)/${plural}$`).exec(path);
      if (m) return { plural, namespace: m[1]! };
    }
    return undefined;
  }

  #list(query: URLSearchParams, plural: Plural, inScope: (o: StoredObject) => boolean, reply: (status: number, body: unknown) => void): void {
    const type = RESOURCES[plural];
    const all = [...this.#collection(plural).values()].filter(inScope).sort((a, b) => key(a).localeCompare(key(b)));
    let snapshot = this.#resourceVersion;
    let offset = 0;
    const token = query.get('continue');
    if (token) {
      const state = JSON.parse(Buffer.from(token, 'base64').toString()) as { rv: number; offset: number };
      if (state.rv < this.#compactedAt) {
        return reply(410, STATUS(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'));
      }
      snapshot = state.rv;
      offset = state.offset;
    }
    const limit = Number(query.get('limit') ?? 0);
    const end = limit > 0 ? offset + limit : all.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot) };
    if (end < all.length) metadata.continue = Buffer.from(JSON.stringify({ rv: snapshot, offset: end })).toString('base64');
    reply(200, {
      kind: `${type.kind}List`,
      apiVersion: type.apiVersion,
      metadata,
      items: all.slice(offset, end).map((o) => (type.builtIn ? withoutTypeMeta(o) : o)),
    });
  }

  #watch(req: IncomingMessage, res: ServerResponse, record: RequestRecord, plural: Plural, namespace: string | undefined, inScope: (o: StoredObject) => boolean, query: URLSearchParams): void {
    const from = query.get('resourceVersion');
    const fromRv = from === null || from === '' || from === '0' ? undefined : Number(from);
    const expired = fromRv !== undefined && fromRv < this.#compactedAt;
    const gone = STATUS(410, 'Expired', `too old resource version: ${fromRv} (${this.#compactedAt})`);
    if (expired && this.expiredAs === 'status') {
      record.status = 410;
      const text = JSON.stringify(gone);
      res.writeHead(410, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const watcher: Watcher = { plural, namespace, matches: inScope, bookmarks: query.get('allowWatchBookmarks') === 'true', res, token: record.token, writes: Promise.resolve(), timer: undefined };
    if (expired) {
      this.#send(watcher, { type: 'ERROR', object: gone });
      watcher.writes = watcher.writes.then(() => void res.end());
      return;
    }
    this.#watchers.add(watcher);
    req.socket.once('close', () => this.#endWatch(watcher));
    if (fromRv === undefined) {
      for (const o of this.#collection(plural).values()) if (inScope(o)) this.#send(watcher, { type: 'ADDED', object: o });
    } else {
      for (const e of this.#history) if (e.rv > fromRv && e.plural === plural) this.#deliver(watcher, e);
    }
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) {
      watcher.timer = setTimeout(() => {
        // kube-apiserver sends a bookmark just before a watch's deadline, so the client can resume there.
        if (watcher.bookmarks) this.#send(watcher, this.#bookmarkEvent(plural));
        watcher.writes = watcher.writes.then(() => this.#endWatch(watcher));
      }, timeoutSeconds * 1000);
    }
    this.emit('watch', record, plural);
  }

  #endWatch(w: Watcher): void {
    if (!this.#watchers.delete(w)) return;
    if (w.timer) clearTimeout(w.timer);
    w.writes = w.writes.then(() => void w.res.end());
  }

  #record(event: HistoryEvent): void {
    this.#history.push(event);
    for (const w of this.#watchers) if (w.plural === event.plural) this.#deliver(w, event);
  }

  #deliver(w: Watcher, event: HistoryEvent): void {
    const now = w.matches(event.object);
    const before = event.previous !== undefined && w.matches(event.previous);
    if (event.type === 'DELETED') {
      if (before) this.#send(w, { type: 'DELETED', object: event.object });
    } else if (now) {
      this.#send(w, { type: before ? 'MODIFIED' : 'ADDED', object: event.object });
    } else if (before) {
      this.#send(w, { type: 'DELETED', object: event.object });
    }
  }

  #bookmarkEvent(plural: Plural): unknown {
    const type: ResourceType = RESOURCES[plural];
    return {
      type: 'BOOKMARK',
      object: { kind: type.kind, apiVersion: type.apiVersion, metadata: { resourceVersion: String(this.#resourceVersion), creationTimestamp: null }, ...(type.bookmarkFields ?? {}) },
    };
  }

  #send(w: Watcher, event: unknown): void {
    const line = `${JSON.stringify(event)}\n`;
    const split = this.splitWrites;
    w.writes = w.writes.then(async () => {
      if (w.res.destroyed || w.res.writableEnded) return;
      if (!split) return write(w.res, line);
      const bytes = Buffer.from(line);
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(Math.random() * 7);
        await write(w.res, bytes.subarray(at, at + size));
        at += size;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  }
}

function write(res: ServerResponse, data: string | Buffer): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.resolve();
  return new Promise((resolve) => res.write(data, () => resolve()));
}

function key(o: StoredObject): string {
  return `${o.metadata.namespace}/${o.metadata.name}`;
}

function withoutTypeMeta(o: StoredObject): Record<string, unknown> {
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = o;
  return rest;
}

/** kube-apiserver's label selector grammar (equality- and set-based) and metadata field selectors. */
export function selectorMatcher(labelSelector: string, fieldSelector: string): (o: StoredObject) => boolean {
  const tests: ((o: StoredObject) => boolean)[] = [];
  for (const raw of splitRequirements(labelSelector)) {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, label, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      tests.push((o) => {
        const value = o.metadata.labels?.[label];
        return op === 'in' ? value !== undefined && values.includes(value) : value === undefined || !values.includes(value);
      });
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(part))) {
      const [, label, op, value] = m as unknown as [string, string, string, string];
      tests.push((o) => (op === '!=' ? o.metadata.labels?.[label] !== value : o.metadata.labels?.[label] === value));
    } else if ((m = /^(!?)([\w./-]+)$/.exec(part))) {
      const [, not, label] = m as unknown as [string, string, string];
      tests.push((o) => (o.metadata.labels?.[label] !== undefined) !== (not === '!'));
    } else {
      throw new Error(`unable to parse requirement: ${JSON.stringify(part)}`);
    }
  }
  for (const raw of fieldSelector.split(',').filter((s) => s.trim() !== '')) {
    const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(raw.trim());
    if (!m) throw new Error(`field label not supported: ${raw}`);
    const field = m[1] === 'metadata.name' ? 'name' : 'namespace';
    const negate = m[2] === '!=';
    tests.push((o) => (o.metadata[field] === m[3]) !== negate);
  }
  return (o) => tests.every((t) => t(o));
}

/** Splits on commas that are not inside an `in (...)` list. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '') parts.push(current);
  return parts;
}

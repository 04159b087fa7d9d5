/**
 * The few calls meshwork makes to a Kubernetes API server — GET a collection, GET a watch stream —
 * over undici, with a Pool of its own (so API traffic never shares connections or limits with the
 * mesh's endpoints) whose TLS trusts the cluster's CA. A small client instead of
 * @kubernetes/client-node: see ARCHITECTURE.md (Discovery) for the measurement.
 *
 * Failures become KubeApiError with the HTTP status (0 when no response came) and the API server's
 * own Status message, which is what tells a user that RBAC is missing or a token expired.
 */
import { Pool, type Dispatcher } from 'undici';
import type { KubeCredentials } from './credentials.js';

export class KubeApiError extends Error {
  /** The HTTP status, or the Status object's code in a watch ERROR event; 0 when nothing answered. */
  readonly status: number;
  /** The Status object's reason (`Expired`, `Forbidden`, ...), if the server said. */
  readonly reason: string | undefined;
  /** A 429's Retry-After, ms. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, status: number, details: { reason?: string | undefined; retryAfterMs?: number | undefined; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = details.reason;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** 410 Gone: the resourceVersion asked for is older than the server's history; list again. */
export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeApiClientOptions {
  /** Time for the response headers, and for a whole non-watch response, ms. Default 30 000. */
  requestTimeoutMs?: number;
}

/** The Kubernetes Status object, as sent with errors and in watch ERROR events. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

export class KubeApiClient {
  readonly credentials: KubeCredentials;
  readonly #pool: Pool;
  readonly #requestTimeoutMs: number;

  constructor(credentials: KubeCredentials, options: KubeApiClientOptions = {}) {
    this.credentials = credentials;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const { tls } = credentials;
    this.#pool = new Pool(credentials.server, {
      // A watch holds its connection for minutes; a list or a relist may overlap it.
      connections: 4,
      keepAliveTimeout: 30_000,
      connect: {
        timeout: this.#requestTimeoutMs,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        ...(tls.serverName ? { servername: tls.serverName } : {}),
        rejectUnauthorized: tls.insecureSkipVerify !== true,
      },
    });
  }

  /** GET a resource or collection as JSON. */
  async get<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
    const res = await this.#request(path, query, { signal, bodyTimeoutMs: this.#requestTimeoutMs });
    try {
      return (await res.body.json()) as T;
    } catch (err) {
      throw this.#failure(path, err);
    }
  }

  /**
   * Opens a watch (or any streamed GET) and resolves with the body once a 200 arrives. The body
   * timeout is the longest silence tolerated; callers keep it above the watch's timeoutSeconds so
   * that the server, not undici, ends a quiet stream.
   */
  async stream(path: string, query: Query, options: { signal?: AbortSignal; bodyTimeoutMs: number }): Promise<Dispatcher.ResponseData['body']> {
    const res = await this.#request(path, query, options);
    return res.body;
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }

  async #request(path: string, query: Query, options: { signal?: AbortSignal | undefined; bodyTimeoutMs: number }): Promise<Dispatcher.ResponseData> {
    const token = await this.credentials.token();
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
    const target = search.size > 0 ? `${path}?${search}` : path;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#pool.request({
        method: 'GET',
        path: target,
        headers: { accept: 'application/json', 'user-agent': 'meshwork', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        headersTimeout: this.#requestTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw this.#failure(path, err);
    }
    if (res.statusCode === 200) return res;
    const text = await res.body.text().catch(() => '');
    let status: KubeStatus = {};
    try {
      status = JSON.parse(text) as KubeStatus;
    } catch {
      // Not a Status object (a proxy's HTML page, say): the raw text below still says something.
    }
    const retryAfter = Number(res.headers['retry-after']);
    const said = status.message ?? (text.slice(0, 200) || 'no message');
    throw new KubeApiError(`${this.credentials.server}${path}: HTTP ${res.statusCode}${status.reason ? ` ${status.reason}` : ''}: ${said}${hint(res.statusCode)}`, res.statusCode, {
      reason: status.reason,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
    });
  }

  #failure(path: string, err: unknown): KubeApiError {
    if (err instanceof KubeApiError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    const detail = err instanceof Error ? err.message : String(err);
    return new KubeApiError(`${this.credentials.server}${path}: ${typeof code === 'string' ? `${code}: ` : ''}${detail}`, 0, { cause: err });
  }
}

function hint(status: number): string {
  if (status === 401) return ' (the token or client certificate was not accepted)';
  if (status === 403) return ' (RBAC: the service account needs get, list and watch on this resource)';
  return '';
}

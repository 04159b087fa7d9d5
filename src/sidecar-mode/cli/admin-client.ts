/**
 * How the command-line views read a sidecar's admin port: the JSON summary, the running config, and
 * the tap stream (NDJSON). A port that cannot be reached, or answers with an error, is an
 * AdminUnavailable whose message says which address and why, for the one line the command prints.
 */
import { request } from 'undici';
import type { MeshSummary } from '../../admin/mesh-summary.js';
import type { TapEvent, TapSkipped } from '../../admin/tap-bus.js';
import type { TapFilter } from '../../admin/tap-filter.js';
import { formatHostPort, type HostPort } from '../../config/listen-address.js';

export class AdminUnavailable extends Error {}

const CONNECT_TIMEOUT_MS = 5_000;

export type TapMessage = TapEvent | TapSkipped | { type: 'tap'; filter: TapFilter } | { type: 'end'; reason: string };

export async function getAdminJson<T>(admin: HostPort, path: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<T> {
  const text = await getAdminText(admin, path, timeoutMs);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new AdminUnavailable(`${url(admin, path)} did not answer JSON; is ${formatHostPort(admin)} a mesh-sidecar admin port?`);
  }
}

export async function getAdminText(admin: HostPort, path: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string> {
  let res;
  try {
    res = await request(url(admin, path), { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw unreachable(admin, err);
  }
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new AdminUnavailable(`${url(admin, path)} answered ${res.statusCode}: ${text.trim()}`);
  return text;
}

export interface TapStream {
  /** Resolves when the stream ends: by the sidecar (its reason), or by close(). */
  readonly ended: Promise<string | undefined>;
  close(): void;
}

/** Streams tap messages to `onMessage` until the sidecar ends the stream or close() is called. */
export async function openTap(admin: HostPort, filter: TapFilter, maxRps: number | undefined, onMessage: (message: TapMessage) => void): Promise<TapStream> {
  const query = new URLSearchParams({ ...(filter as Record<string, string>), format: 'ndjson', ...(maxRps === undefined ? {} : { rate: String(maxRps) }) });
  const controller = new AbortController();
  const connectTimer = setTimeout(() => controller.abort(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  let res;
  try {
    res = await request(url(admin, `/api/tap?${query}`), { signal: controller.signal });
  } catch (err) {
    throw unreachable(admin, controller.signal.reason ?? err);
  } finally {
    clearTimeout(connectTimer);
  }
  if (res.statusCode !== 200) throw new AdminUnavailable(`${formatHostPort(admin)} refused the tap (${res.statusCode}): ${(await res.body.text()).trim()}`);
  let closedHere = false;
  let endReason: string | undefined;
  const ended = new Promise<string | undefined>((resolve) => {
    let buffered = '';
    res.body.setEncoding('utf8');
    res.body.on('data', (chunk: string) => {
      buffered += chunk;
      let newline;
      // Once closed here, what is still buffered is not handed over (tap --count stops exactly).
      while (!closedHere && (newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line) continue;
        const message = JSON.parse(line) as TapMessage;
        if (message.type === 'end') endReason = message.reason;
        onMessage(message);
      }
    });
    const finish = () => resolve(closedHere ? undefined : (endReason ?? 'the sidecar closed the stream'));
    res.body.on('end', finish);
    res.body.on('error', finish);
    res.body.on('close', finish);
  });
  return {
    ended,
    close() {
      closedHere = true;
      controller.abort();
    },
  };
}

function url(admin: HostPort, path: string): string {
  return `http://${formatHostPort(admin)}${path}`;
}

function unreachable(admin: HostPort, err: unknown): AdminUnavailable {
  const reason = (err as { code?: string }).code ?? (err as Error).message;
  return new AdminUnavailable(`cannot reach the admin port at ${formatHostPort(admin)} (${reason}); is mesh-sidecar running, with --admin at that address?`);
}

export type { MeshSummary };

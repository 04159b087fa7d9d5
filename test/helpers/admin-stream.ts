/**
 * Reads an admin stream (/api/tap, /api/summary/stream) as NDJSON, message by message, so a test
 * can wait for the messages it expects instead of sleeping.
 */
import { request } from 'undici';

export interface AdminStream {
  /** Resolves with the next message (waiting up to `timeoutMs`). */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Messages until one satisfies `done` (included). */
  until(done: (message: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  close(): void;
}

const open = new Set<AbortController>();

/** Closes every stream still open, so a test that failed half-way leaves no connection behind. */
export function closeAdminStreams(): void {
  for (const controller of open) controller.abort();
  open.clear();
}

export async function openAdminStream(url: string): Promise<AdminStream> {
  const controller = new AbortController();
  open.add(controller);
  const res = await request(url, { signal: controller.signal, headers: { accept: 'application/x-ndjson' } });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`GET ${url} answered ${res.statusCode}: ${text}`);
  }
  const queue: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  let ended = false;
  res.body.setEncoding('utf8');
  res.body.on('data', (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) queue.push(JSON.parse(line) as Record<string, unknown>);
    }
    waiters.splice(0).forEach((wake) => wake());
  });
  const finish = () => {
    ended = true;
    waiters.splice(0).forEach((wake) => wake());
  };
  res.body.on('end', finish);
  res.body.on('error', finish);
  const next = async (timeoutMs = 5_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    while (queue.length === 0) {
      if (ended) throw new Error(`the stream ${url} ended`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message from ${url} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return queue.shift()!;
  };
  return {
    next,
    async until(done, timeoutMs = 5_000) {
      const seen: Record<string, unknown>[] = [];
      for (;;) {
        const message = await next(timeoutMs);
        seen.push(message);
        if (done(message)) return seen;
      }
    },
    close: () => {
      open.delete(controller);
      controller.abort();
    },
  };
}

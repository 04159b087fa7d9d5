/**
 * A live stream of JSON messages over one HTTP response, as server-sent events (what a browser's
 * EventSource reads: `event:` and `data:` lines) or as NDJSON (one JSON object a line, what curl, jq
 * and `mesh-sidecar tap` read). A comment or blank line every 15 s keeps proxies and idle timers
 * from closing a quiet stream.
 *
 * Nothing waits on a slow reader: `send` refuses a message once 1 MiB is queued on the socket, and
 * the caller counts it as skipped instead of holding it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type StreamFormat = 'sse' | 'ndjson';

const MAX_QUEUED_BYTES = 1024 * 1024;
const KEEPALIVE_MS = 15_000;

export interface EventStream {
  /** Queues a message; false (and nothing queued) when the reader is too far behind. */
  send(message: { type: string }): boolean;
  end(): void;
  /** Called once the stream is over, whoever ended it. */
  onClose(listener: () => void): void;
}

/** SSE when the client asks for text/event-stream (or `format=sse`), NDJSON otherwise. */
export function streamFormat(req: IncomingMessage, asked: string | null): StreamFormat | undefined {
  if (asked === 'sse' || asked === 'ndjson') return asked;
  if (asked !== null) return undefined;
  return (req.headers.accept ?? '').includes('text/event-stream') ? 'sse' : 'ndjson';
}

export function openEventStream(res: ServerResponse, format: StreamFormat): EventStream {
  res.writeHead(200, {
    'content-type': format === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
    // Tells buffering proxies (nginx) to pass each message on at once.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  const keepalive = setInterval(() => res.write(format === 'sse' ? ': keepalive\n\n' : '\n'), KEEPALIVE_MS);
  keepalive.unref();
  const listeners: (() => void)[] = [];
  let closed = false;
  // Messages sent within one turn of the event loop leave in one write: a busy tap sends many, and a
  // syscall per message was most of its cost.
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    for (const listener of listeners) listener();
  };
  res.once('close', close);
  return {
    send(message) {
      if (closed || res.writableLength > MAX_QUEUED_BYTES) return false;
      const json = JSON.stringify(message);
      if (!corked) {
        corked = true;
        res.cork();
        setImmediate(uncork);
      }
      res.write(format === 'sse' ? `event: ${message.type}\ndata: ${json}\n\n` : `${json}\n`);
      return true;
    },
    end() {
      close();
      res.end();
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  };
}

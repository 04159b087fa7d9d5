/**
 * A request body that can be sent more than once. Strings and byte arrays are; a stream is read
 * into memory up to a limit (the retry filter's maxBodyBytes), so that a retry can send it again.
 * Past the limit the chunks read so far and the rest of the stream go on as one stream, sent once.
 * The caller's abort stops the reading, and a stream given up half way is destroyed.
 */
import { Readable } from 'node:stream';
import { MeshError } from '../core/errors.js';

/** Whether a body can be sent again as it is (absent, a string or bytes): only a stream needs buffering. */
export function isReplayableBody(body: unknown): body is string | Uint8Array | null | undefined {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
}

/** Buffered whole, or too large: then a stream of the same bytes, for one attempt. */
export type BufferedBody = { kind: 'buffered'; body: Buffer } | { kind: 'too-large'; body: Readable };

export async function bufferBody(stream: AsyncIterable<unknown>, limit: number, signal: AbortSignal | undefined): Promise<BufferedBody> {
  const source = stream[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await abortable(source.next(), signal, source);
    if (next.done === true) return { kind: 'buffered', body: Buffer.concat(chunks, size) };
    const chunk = toBuffer(next.value);
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) return { kind: 'too-large', body: Readable.from(concatStreams(chunks, source), { objectMode: false }) };
  }
}

async function* concatStreams(head: Buffer[], rest: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  let finished = false;
  try {
    yield* head;
    for (;;) {
      const next = await rest.next();
      if (next.done === true) break;
      yield toBuffer(next.value);
    }
    finished = true;
  } finally {
    // Destroys the caller's stream if the request gave up half way.
    if (!finished) await rest.return?.();
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, source: AsyncIterator<unknown>): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    void Promise.resolve(source.return?.()).catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      void Promise.resolve(source.return?.()).catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new MeshError('INVALID_OPTIONS', `request body stream produced a ${typeof chunk}; a body stream must yield strings or bytes`);
}


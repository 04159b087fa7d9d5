/**
 * The body of a MeshResponse as a Node Readable with the mixins undici's `request()` gives its
 * bodies (text, json, arrayBuffer, bytes, blob, dump, bodyUsed, body), so a meshClient response is
 * a drop-in for an undici one. It is made only when a caller touches `response.body`; the sidecar
 * and the mesh dispatcher never make one.
 *
 * Reading the whole body through a mixin skips the stream machinery: chunks go straight into the
 * collector as the source delivers them.
 */
import { Readable } from 'node:stream';

/** What the body asks of its response: more chunks, or none at all. */
interface BodyController {
  resume(): void;
  abort(reason?: Error): void;
}

type Collector = { chunks: Buffer[]; size: number; resolve(bytes: Buffer): void; reject(error: Error): void };

/** Also the response's sink (mesh-response.ts): it receives the chunks by `onData`/`onEnd`/`onError`. */
export class ResponseBody extends Readable {
  readonly #response: BodyController;
  #collector: Collector | undefined = undefined;
  #used = false;
  #finished = false;

  constructor(response: BodyController) {
    super({ highWaterMark: 64 * 1024 });
    this.#response = response;
  }

  // ---- as the response's sink

  onData(chunk: Buffer): boolean {
    const collector = this.#collector;
    if (collector !== undefined) {
      collector.chunks.push(chunk);
      collector.size += chunk.length;
      return true;
    }
    return this.push(chunk);
  }

  onEnd(_trailers: Record<string, string | string[]>): void {
    this.#finished = true;
    const collector = this.#collector;
    if (collector !== undefined) {
      this.#collector = undefined;
      collector.resolve(collector.chunks.length === 1 ? collector.chunks[0]! : Buffer.concat(collector.chunks, collector.size));
      this.push(null);
      this.resume();
      return;
    }
    this.push(null);
  }

  onError(error: Error): void {
    this.#finished = true;
    const collector = this.#collector;
    if (collector !== undefined) {
      this.#collector = undefined;
      collector.reject(error);
      // The reader has the error from its promise; an 'error' event too, which nobody listens to,
      // would crash the process (a backend resetting mid-body did).
      this.destroy();
      return;
    }
    // Nobody reads the body yet: the error waits for whoever does (a mixin rejects with it, a stream
    // reader sees it) rather than crashing the process as an 'error' event without a listener.
    if (this.listenerCount('error') === 0) this.on('error', () => {});
    this.destroy(error);
  }

  // ---- as a Readable

  override _read(): void {
    this.#response.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#finished) this.#response.abort(error ?? new Error('the response body was destroyed before it ended'));
    callback(error);
  }

  // ---- undici's body mixins

  get bodyUsed(): boolean {
    return this.#used || this.readableDidRead || this.destroyed;
  }

  /** A WHATWG ReadableStream over the same bytes. */
  get body(): ReadableStream {
    this.#used = true;
    return Readable.toWeb(this) as unknown as ReadableStream;
  }

  async text(): Promise<string> {
    const bytes = await this.#collect();
    // As fetch's text(): UTF-8, without a byte order mark.
    const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    return bytes.toString('utf8', start);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.#collect();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.#collect());
  }

  async blob(): Promise<Blob> {
    return new Blob([await this.#collect()]);
  }

  async formData(): Promise<never> {
    throw new TypeError('formData() is not supported on a response body; read it with text() or bytes()');
  }

  /** Reads and drops up to `limit` bytes (so the connection can be reused), then stops. */
  async dump(options: { limit?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.#finished && this.readableLength === 0) return;
    this.#used = true;
    const limit = options.limit ?? 131_072;
    if (options.signal?.aborted) {
      this.destroy(options.signal.reason instanceof Error ? options.signal.reason : new Error('aborted'));
      return;
    }
    await new Promise<void>((resolve) => {
      let read = 0;
      const done = () => resolve();
      this.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > limit) this.destroy();
      });
      this.once('end', done);
      this.once('close', done);
      this.once('error', done);
      options.signal?.addEventListener('abort', () => this.destroy(), { once: true });
    });
  }

  #collect(): Promise<Buffer> {
    if (this.errored && !this.#used) {
      this.#used = true;
      return Promise.reject(this.errored);
    }
    if (this.bodyUsed) return Promise.reject(new TypeError('the response body has already been read'));
    this.#used = true;
    // Chunks already buffered in the Readable come first; then the source fills the collector directly.
    const chunks: Buffer[] = [];
    let size = 0;
    let chunk: Buffer | null;
    while (this.readableLength > 0 && (chunk = this.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      size += chunk.length;
    }
    if (this.#finished) {
      if (this.errored) return Promise.reject(this.errored);
      return Promise.resolve(Buffer.concat(chunks, size));
    }
    return new Promise<Buffer>((resolve, reject) => {
      this.#collector = { chunks, size, resolve, reject };
      this.#response.resume();
    });
  }
}

/**
 * A response made up inside the mesh (an injected abort today), shaped like undici's so callers
 * cannot tell it apart: statusCode, headers, and a body stream with the text/json/dump mixins.
 */
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { MeshResponse } from '../client/http-types.js';

class SyntheticBody extends Readable {
  readonly #bytes: Buffer;

  constructor(bytes: Buffer) {
    super();
    this.#bytes = bytes;
  }

  override _read(): void {
    this.push(this.#bytes.length > 0 ? this.#bytes : null);
    if (this.#bytes.length > 0) this.push(null);
  }

  async text(): Promise<string> {
    return this.#bytes.toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.#bytes.toString('utf8'));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes.buffer.slice(this.#bytes.byteOffset, this.#bytes.byteOffset + this.#bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(this.#bytes);
  }

  async blob(): Promise<Blob> {
    return new Blob([this.#bytes]);
  }

  async dump(): Promise<void> {
    this.destroy();
  }

  get bodyUsed(): boolean {
    return this.readableEnded || this.destroyed;
  }
}

export function syntheticResponse(statusCode: number, headers: Record<string, string>, body: string): MeshResponse {
  const bytes = Buffer.from(body);
  return {
    statusCode,
    statusText: STATUS_CODES[statusCode] ?? '',
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(bytes.length), ...headers },
    trailers: {},
    opaque: null,
    context: {},
    body: new SyntheticBody(bytes) as unknown as MeshResponse['body'],
  };
}

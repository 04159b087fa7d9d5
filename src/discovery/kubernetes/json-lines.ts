/**
 * A watch response is one JSON object per line, and TCP cuts it wherever it likes: a line may
 * arrive in many pieces, several lines in one, and a piece may end inside a multi-byte character.
 * Bytes are kept until a newline (0x0A never occurs inside a UTF-8 sequence, so splitting on it
 * is safe) and only whole lines are decoded.
 */
export class JsonLines {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** The API server's largest object is about 1.5 MB (etcd's limit); 16 MiB leaves a wide margin. */
  constructor(maxLineBytes = 16 * 2 ** 20) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** The complete lines this chunk finishes, parsed; a partial last line is kept for the next chunk. */
  push(chunk: Buffer): unknown[] {
    const values: unknown[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, newline);
      const line = this.#pending.length === 0 ? piece : Buffer.concat([...this.#pending, piece]);
      this.#pending = [];
      this.#pendingBytes = 0;
      start = newline + 1;
      const text = line.toString('utf8').trim();
      if (text === '') continue;
      try {
        values.push(JSON.parse(text));
      } catch (err) {
        throw new Error(`a watch line is not JSON (${(err as Error).message}): ${JSON.stringify(text.slice(0, 120))}`);
      }
    }
    if (start < chunk.length) {
      this.#pendingBytes += chunk.length - start;
      if (this.#pendingBytes > this.#maxLineBytes) throw new Error(`a watch line is longer than ${this.#maxLineBytes} bytes`);
      // Copy: the stream may reuse the chunk's memory.
      this.#pending.push(Buffer.from(chunk.subarray(start)));
    }
    return values;
  }

  /** Bytes of a line begun but not finished (a stream that ends here was cut mid-line). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}

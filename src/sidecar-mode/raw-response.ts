/**
 * An HTTP/1.1 answer written straight to a socket that no HTTP server owns (a rejected upgrade, a
 * request the parser refused, a plaintext caller on an mTLS port), then the connection closed.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** `code` becomes `x-meshwork-error`, as on the sidecar's other refusals; `message` is the body. */
export function endWithStatus(socket: Duplex, status: number, message: string, code?: string): void {
  const body = `${message}\n`;
  const errorHeader = code ? `x-meshwork-error: ${code}\r\n` : '';
  // Destroyed once written: a caller that keeps its side open must not hold the connection.
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\n${errorHeader}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => socket.destroy());
}

/**
 * A raw TCP client for tests that must misbehave at the byte level (slow headers, stalled bodies,
 * callers that never read): open a socket, write what the test says when it says, and learn what
 * came back before the other side closed.
 */
import { connect, type Socket } from 'node:net';

export interface RawConnection {
  readonly socket: Socket;
  /** What was received so far, as latin1 text (the first 64 KiB of it). */
  received(): string;
  /** How many bytes were received so far. */
  receivedBytes(): number;
  /** Resolves once the peer has closed the connection (or it failed), with what was received. */
  readonly closed: Promise<string>;
}

export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

/** `read: false` leaves the socket paused (the peer's writes fill the buffers and stop) until the test resumes it. */
export function openRaw(address: string, options: { read?: boolean } = {}): Promise<RawConnection> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    let text = '';
    let bytes = 0;
    const closed = new Promise<string>((done) => socket.once('close', () => done(text)));
    socket.on('error', () => {});
    // A paused socket stays paused when a 'data' listener is added.
    if (options.read === false) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (text.length < 65_536) text += chunk.toString('latin1');
    });
    socket.once('connect', () => resolve({ socket, received: () => text, receivedBytes: () => bytes, closed }));
    socket.once('error', reject);
  });
}

/** Writes `bytes` one piece of `size` at a time, `everyMs` apart, until done or the socket closes; resolves with how many were written. */
export async function dribble(socket: Socket, bytes: string, everyMs: number, size = 1): Promise<number> {
  let sent = 0;
  while (sent < bytes.length && !socket.destroyed && socket.writable) {
    socket.write(bytes.slice(sent, sent + size));
    sent += size;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Math.min(sent, bytes.length);
}

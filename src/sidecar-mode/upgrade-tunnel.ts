/**
 * Protocol upgrades (WebSocket) through the sidecar: once an endpoint is chosen, the sidecar opens
 * a TCP connection to it, replays the upgrade request (keeping Connection/Upgrade, which a proxy
 * otherwise drops, plus X-Forwarded-*), and then copies bytes both ways until either side closes.
 * The mesh's request filters do not apply to the frames; the balancer's choice and the access log do.
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.js';
import type { HostPort } from '../config/listen-address.js';
import { addForwardedHeaders, type HeaderMap } from './proxy-headers.js';
import { endWithStatus } from './raw-response.js';

/**
 * `override` replaces headers after the caller's are copied (undefined removes one): the inbound side
 * uses it to set, never pass on, the caller's identity.
 */
export function tunnelUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  upstream: HostPort,
  path: string,
  authority: string,
  logger: Logger,
  override: Record<string, string | undefined> = {},
): void {
  const headers: HeaderMap = {};
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value !== undefined && name !== 'proxy-connection' && name !== 'proxy-authorization') headers[name] = value;
  }
  for (const [name, value] of Object.entries(override)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  headers.host ??= authority;
  addForwardedHeaders(headers, req.socket.remoteAddress, authority);

  const server = connect(upstream.port, upstream.host);
  let connected = false;
  const fail = (err: Error) => {
    logger.warn('upgrade tunnel failed', { authority, upstream: `${upstream.host}:${upstream.port}`, error: err.message });
    if (!connected && client.writable) {
      endWithStatus(client, 502, `could not connect to ${upstream.host}:${upstream.port}: ${err.message}`, 'CONNECT_FAILED');
    } else client.destroy();
    server.destroy();
  };
  server.once('error', fail);
  client.on('error', () => server.destroy());
  server.once('connect', () => {
    connected = true;
    server.setNoDelay(true);
    let head_ = `${req.method} ${path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) head_ += `${name}: ${v}\r\n`;
    }
    server.write(`${head_}\r\n`);
    if (head.length > 0) server.write(head);
    server.pipe(client);
    client.pipe(server);
  });
  client.once('close', () => server.destroy());
  server.once('close', () => client.destroy());
}

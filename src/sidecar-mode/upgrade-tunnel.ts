/**
 * Protocol upgrades (WebSocket) through the sidecar. The upgrade request goes through the mesh
 * client like any request (route, metrics, timeouts, balancer, mTLS) with the hop-by-hop headers
 * dropped, and the tunnel opens only when the endpoint answers `101 Switching Protocols`. Until
 * then nothing the caller sent after the request's head reaches the endpoint: an app that does not
 * upgrade answers like any other request (RFC 9110 §7.8 allows it), and a request pipelined behind
 * the upgrade must not travel unparsed past the sidecar's identity, policy and routing. Such an
 * answer is relayed as an ordinary response and the connection is closed.
 *
 * Once upgraded, bytes are copied both ways until either side closes; the mesh's request filters
 * do not apply to the frames.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { MeshError } from '../core/errors.js';
import { LightAbortSignal } from '../core/light-abort-signal.js';
import type { MeshResponse } from '../http/mesh-response.js';
import { forwardedHeaders, hasBody, type ForwardOptions, type ForwardTarget } from './forward.js';
import { nextHop } from './hop-limit.js';
import { endToEndRawHeaders } from './proxy-headers.js';
import { proxyFailure } from './proxy-errors.js';
import { endWithStatus } from './raw-response.js';

export function forwardUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, target: ForwardTarget, options: ForwardOptions): void {
  // Whatever the caller sends next waits in the socket until the endpoint has said 101; a request
  // pipelined behind a refused upgrade is never read.
  client.pause();
  const protocol = req.headers.upgrade;
  if (typeof protocol !== 'string' || protocol === '' || hasBody(req)) {
    endWithStatus(client, 400, 'an upgrade request names one protocol in Upgrade and has no body', 'INVALID_REQUEST');
    return;
  }
  const hops = nextHop(req, options.maxHops);
  if (typeof hops !== 'number') {
    endWithStatus(client, hops.status, hops.message, hops.code);
    return;
  }
  const abort = new LightAbortSignal();
  const onClientGone = () => abort.abort(new MeshError('REQUEST_ABORTED', 'the caller closed the connection during the upgrade'));
  client.once('close', onClientGone);
  client.on('error', () => client.destroy());
  target
    .request({
      method: req.method as Dispatcher.HttpMethod,
      path: options.path,
      headers: forwardedHeaders(req, options, hops, false),
      body: null,
      upgrade: protocol,
      signal: abort.asAbortSignal(),
      authority: options.label ?? options.authority,
      ...(options.peer ? { peer: options.peer } : {}),
    })
    .then(
      (response) => {
        client.off('close', onClientGone);
        if (response.upgrade) tunnel(client, head, response, options);
        else relayRefusal(client, response, options);
      },
      (err: unknown) => {
        client.off('close', onClientGone);
        if (abort.aborted) return;
        const failure = proxyFailure(err);
        options.logger.warn('upgrade failed', { direction: options.direction, authority: options.authority, path: options.path, code: failure.code, error: failure.message });
        if (client.writable) endWithStatus(client, failure.status, failure.message, failure.code);
        else client.destroy();
      },
    );
}

function tunnel(client: Duplex, head: Buffer, response: MeshResponse, options: ForwardOptions): void {
  const upstream = response.upgrade!.socket;
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  // The 101's own Connection and Upgrade fields are the point of it; they go back as they came.
  let text = `HTTP/1.1 101 ${response.statusText || 'Switching Protocols'}\r\n`;
  const raw = response.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]!.toString()}: ${raw[i + 1]!.toString('latin1' as never)}\r\n`;
  client.write(`${text}\r\n`);
  if (head.length > 0) upstream.write(head);
  upstream.on('error', (err: Error) => {
    options.logger.debug('upgraded connection failed', { authority: options.authority, error: err.message });
    client.destroy();
  });
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
  upstream.pipe(client);
  client.pipe(upstream);
}

/** The endpoint answered without upgrading: that answer goes back as it is, then the connection closes. */
function relayRefusal(client: Duplex, response: MeshResponse, options: ForwardOptions): void {
  options.logger.debug('the endpoint did not upgrade; its answer is relayed and the connection closed', { authority: options.authority, status: response.statusCode });
  const { fields } = endToEndRawHeaders(response.rawHeaders);
  let text = `HTTP/1.1 ${response.statusCode} ${response.statusText || STATUS_CODES[response.statusCode] || ''}\r\n`;
  for (let i = 0; i < fields.length; i += 2) text += `${fields[i]}: ${fields[i + 1]}\r\n`;
  // Without Transfer-Encoding the body is framed by Content-Length, or by the close that follows.
  client.write(`${text}connection: close\r\n\r\n`);
  client.on('drain', () => response.resume());
  response.sendBodyTo({
    onData: (chunk) => client.write(chunk),
    onEnd: () => client.end(() => client.destroy()),
    onError: () => client.destroy(),
  });
}

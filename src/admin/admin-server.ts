/**
 * The admin port (Linkerd's 4191): `/metrics` for Prometheus, `/ready` and `/live` for Kubernetes
 * probes, `/config` (the effective configuration with credentials redacted, redact-credentials.ts)
 * where there is one to show, and the views of the mesh (admin-routes.ts): the dashboard at `/`,
 * the JSON summary and tap. mesh-sidecar runs it; a library process gets it from `mesh.admin()`. It
 * binds to loopback by default: what it reveals is for the pod, not the network.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/logger.js';
import type { HostPort } from '../config/listen-address.js';
import { redactCredentials } from './redact-credentials.js';
import { ADMIN_VIEW_PATHS, sendJson, serveAdminView } from './admin-routes.js';
import type { AdminView } from './admin-view.js';

export interface AdminState {
  registry: Registry;
  /** Ready means listening and not draining. */
  ready(): boolean;
  /** The effective config, as plain data; without it there is no /config. */
  config?(): unknown;
  /** The dashboard, summary and tap; without it those routes are not served. Closed with the server. */
  view?: AdminView;
}

export interface AdminServer {
  readonly address: HostPort;
  close(): Promise<void>;
}

export async function startAdminServer(address: HostPort, state: AdminState, logger: Logger): Promise<AdminServer> {
  const paths = ['/metrics', '/ready', '/live', ...(state.config ? ['/config'] : []), ...(state.view ? ADMIN_VIEW_PATHS : [])];
  const server: Server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET and HEAD\n');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return send(400, 'text/plain', 'not a valid request target\n');
    }
    if (state.view && serveAdminView(state.view, req, res, url)) return;
    switch (url.pathname) {
      case '/metrics':
        state.registry.metrics().then(
          (text) => send(200, state.registry.contentType, text),
          (err: Error) => send(500, 'text/plain', `metrics failed: ${err.message}\n`),
        );
        return;
      case '/ready':
        return state.ready() ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready\n');
      case '/live':
        return send(200, 'text/plain', 'live\n');
      case '/config':
        if (state.config) return sendJson(req, res, 200, redactCredentials(state.config()));
        break;
    }
    return send(404, 'text/plain', `admin endpoints: ${paths.join(' ')}\n`);
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error('admin server error', { error: err.message }));
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        state.view?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

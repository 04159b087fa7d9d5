/**
 * The admin routes that show the mesh, the same on mesh-sidecar's admin port and on `mesh.admin()`:
 *
 *   /                      the dashboard (dashboard/ in the package: one HTML page, its script and
 *                          stylesheet, served as they are; the page loads nothing from elsewhere)
 *   /api/summary           the windowed summary as JSON (admin/mesh-summary.ts)
 *   /api/summary/stream    the same, once a second (`interval=<ms>`), as SSE or NDJSON
 *   /api/tap               requests as they complete, as SSE or NDJSON, filtered by direction,
 *                          authority, path, method, route and status; 403 unless tap is enabled
 *
 * Streams are SSE when the client accepts text/event-stream (or asks `format=sse`), NDJSON otherwise.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminView } from './admin-view.js';
import { openEventStream, streamFormat } from './event-stream.js';
import { parseTapFilter, TapFilterError } from './tap-filter.js';

const DASHBOARD_DIR = new URL('../../dashboard/', import.meta.url);

/** Only the page's own files, from its own origin: no CDN, no inline script, no framing. */
const DASHBOARD_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

const MIN_INTERVAL_MS = 250;

export const ADMIN_VIEW_PATHS = ['/', '/api/summary', '/api/summary/stream', '/api/tap'];

/** Serves the request if it is one of these routes; false otherwise. */
export function serveAdminView(view: AdminView, req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  const asset = STATIC_FILES[url.pathname];
  if (asset) {
    serveAsset(req, res, asset);
    return true;
  }
  switch (url.pathname) {
    case '/api/summary':
      sendJson(req, res, 200, view.summary());
      return true;
    case '/api/summary/stream':
      streamSummaries(view, req, res, url);
      return true;
    case '/api/tap':
      streamTap(view, req, res, url);
      return true;
    default:
      return false;
  }
}

const assets = new Map<string, Promise<Buffer>>();

function serveAsset(req: IncomingMessage, res: ServerResponse, asset: { file: string; type: string }): void {
  let content = assets.get(asset.file);
  if (content === undefined) {
    content = readFile(new URL(asset.file, DASHBOARD_DIR));
    assets.set(asset.file, content);
  }
  content.then(
    (body) => {
      res.writeHead(200, { 'content-type': asset.type, 'content-length': body.length, 'cache-control': 'no-store', 'content-security-policy': DASHBOARD_POLICY, 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    (err: Error) => {
      assets.delete(asset.file);
      sendText(res, 500, `the dashboard's ${asset.file} could not be read: ${err.message}\n`);
    },
  );
}

function streamSummaries(view: AdminView, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const format = streamFormat(req, url.searchParams.get('format'));
  if (format === undefined) return sendText(res, 400, `format: expected sse or ndjson, got ${JSON.stringify(url.searchParams.get('format'))}\n`);
  const asked = url.searchParams.get('interval');
  const intervalMs = asked === null ? 1_000 : Number(asked);
  if (!Number.isFinite(intervalMs) || intervalMs < MIN_INTERVAL_MS) return sendText(res, 400, `interval: expected a number of milliseconds >= ${MIN_INTERVAL_MS}, got ${JSON.stringify(asked)}\n`);
  const stream = openEventStream(res, format);
  const send = () => stream.send({ type: 'summary', ...view.summary() });
  send();
  const timer = setInterval(send, intervalMs);
  stream.onClose(() => clearInterval(timer));
}

function streamTap(view: AdminView, req: IncomingMessage, res: ServerResponse, url: URL): void {
  if (!view.tap.enabled) {
    return sendText(res, 403, 'tap is off: enable it in the config with spec.admin.tap: true (it shows request paths and headers to whoever can reach this port)\n');
  }
  const format = streamFormat(req, url.searchParams.get('format'));
  if (format === undefined) return sendText(res, 400, `format: expected sse or ndjson, got ${JSON.stringify(url.searchParams.get('format'))}\n`);
  let filter;
  try {
    filter = parseTapFilter((field) => url.searchParams.get(field));
  } catch (err) {
    if (err instanceof TapFilterError) return sendText(res, 400, `${err.message}\n`);
    throw err;
  }
  const rateText = url.searchParams.get('rate');
  const rate = rateText === null ? undefined : Number(rateText);
  if (rate !== undefined && !(Number.isInteger(rate) && rate >= 1)) return sendText(res, 400, `rate: expected a whole number of events per second >= 1, got ${JSON.stringify(rateText)}\n`);
  const stream = openEventStream(res, format);
  stream.send({ type: 'tap', filter, ...(rate === undefined ? {} : { maxEventsPerSecond: rate }) } as { type: string });
  const unsubscribe = view.tap.subscribe(filter, {
    send: (message) => stream.send(message),
    end: (reason) => {
      stream.send({ type: 'end', reason } as { type: string });
      stream.end();
    },
  }, rate === undefined ? {} : { maxEventsPerSecond: rate });
  stream.onClose(unsubscribe);
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

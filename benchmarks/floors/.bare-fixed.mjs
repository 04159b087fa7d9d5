/**
 * The floor a Node proxy can reach: a node:http server that forwards every request to one upstream
 * through an undici Pool, drops the hop-by-hop headers (RFC 9110 §7.6.1) and does nothing else: no
 * routing, no metrics, no retries. `mesh-sidecar` is measured against it.
 *
 *   node bare-proxy.mjs dispatch <upstream port>   undici's callback API: head and chunks go
 *                                                  straight to the server response, with backpressure
 *   node bare-proxy.mjs request <upstream port>    Pool.request() and body.pipe(res): a promise and a
 *                                                  Readable per response
 *
 * Prints {"port": N} once listening. Plain JavaScript, run by plain `node`, like the sidecar.
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [mode, upstreamPort] = process.argv.slice(2);
if ((mode !== 'dispatch' && mode !== 'request') || !upstreamPort) {
  console.error('usage: node bare-proxy.mjs dispatch|request <upstream port>');
  process.exit(2);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'trailer']);
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 64 });

function requestHeaders(req) {
  const out = {};
  for (const name in req.headers) if (!HOP_BY_HOP.has(name)) out[name] = req.headers[name];
  return out;
}

function hasBody(req) {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

function fail(res) {
  if (res.headersSent) res.destroy();
  else res.writeHead(502).end();
}

function viaDispatch(req, res) {
  let resume;
  res.on('drain', () => resume?.());
  pool.dispatch(
    { method: req.method, path: req.url, headers: requestHeaders(req), body: hasBody(req) ? req : null },
    {
      onConnect(abort) {
        res.once('close', () => res.writableFinished || abort());
      },
      onHeaders(status, raw, resumeParser) {
        resume = resumeParser;
        const head = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i].toString('latin1').toLowerCase();
          if (!HOP_BY_HOP.has(name)) head.push(name, raw[i + 1].toString('latin1'));
        }
        res.writeHead(status, head);
        return true;
      },
      onData: (chunk) => res.write(chunk),
      onComplete: () => res.end(),
      onError: () => fail(res),
    },
  );
}

function viaRequest(req, res) {
  pool.request({ method: req.method, path: req.url, headers: requestHeaders(req), body: hasBody(req) ? req : null }).then(
    (upstream) => {
      const head = {};
      for (const name in upstream.headers) if (!HOP_BY_HOP.has(name)) head[name] = upstream.headers[name];
      res.writeHead(upstream.statusCode, head);
      upstream.body.pipe(res);
    },
    () => fail(res),
  );
}

const server = createServer({ keepAliveTimeout: 60_000 }, mode === 'dispatch' ? viaDispatch : viaRequest);
server.listen(19556, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => process.exit(0));

// One of the demo's sample apps: a plain node:http server that knows nothing about the mesh.
//
//   node sample-service.mjs --name words-v1-flaky --role words --version v1 --latency-ms 4 --failure-ratio 0.3
//
// Roles:
//   words        answers a random word
//   capitalizer  answers ?word=... in capitals
//   simon        calls words, then capitalizer, and answers "simon says: WORD"
//
// It prints {"name","port","pid"} as one JSON line on stdout once listening, and nothing else there.
// simon reaches its peers through its own sidecar's outbound port, which does not exist yet when simon
// starts (the sidecar needs simon's port first), so the launcher sends it as a JSON line on stdin:
// {"outbound":"127.0.0.1:PORT"}. Every app exits when stdin closes, so none outlives the launcher.
import { Agent, createServer, request as httpRequest } from 'node:http';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    name: { type: 'string' },
    role: { type: 'string' },
    version: { type: 'string', default: 'v1' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'latency-ms': { type: 'string', default: '0' },
    'failure-ratio': { type: 'string', default: '0' },
  },
});

const name = flags.name ?? flags.role;
const role = flags.role ?? flags.name;
if (!name || !['words', 'capitalizer', 'simon'].includes(role)) {
  process.stderr.write('usage: sample-service.mjs --role words|capitalizer|simon [--name N] [--version v1] [--port 0] [--latency-ms 0] [--failure-ratio 0]\n');
  process.exit(2);
}
const latencyMs = Number(flags['latency-ms']);
const failureRatio = Number(flags['failure-ratio']);
if (!(latencyMs >= 0) || !(failureRatio >= 0 && failureRatio <= 1)) {
  process.stderr.write('--latency-ms must be >= 0 and --failure-ratio between 0 and 1\n');
  process.exit(2);
}

const WORDS = ['mesh', 'proxy', 'canary', 'retry', 'budget', 'sidecar', 'latency', 'quantile', 'endpoint', 'circuit', 'route', 'deadline'];

let outbound; // host:port of this app's sidecar outbound listener, once the launcher says
// Keep-alive matters: without it every call would open a fresh connection to the sidecar, and the
// demo's latency numbers would mostly measure TCP handshakes.
const toSidecar = new Agent({ keepAlive: true, maxSockets: 64 });

/** A GET through this app's sidecar. The mesh picks the service from the Host header, as in Linkerd. */
function callThroughMesh(service, path) {
  return new Promise((resolve, reject) => {
    if (outbound === undefined) {
      reject(new Error('no sidecar outbound address yet'));
      return;
    }
    const [host, port] = splitHostPort(outbound);
    const req = httpRequest({ host, port, path, agent: toSidecar, headers: { host: service } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), meshError: res.headers['x-meshwork-error'] }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`${service} did not answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

function splitHostPort(address) {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}

// Latency varies a little around the set value, so the percentiles in the table are not all equal.
const jittered = (ms) => (ms > 0 ? ms * (0.5 + Math.random()) : 0);

async function answer(req, url) {
  if (role === 'words') {
    return { status: 200, body: `${WORDS[Math.floor(Math.random() * WORDS.length)]}\n` };
  }
  if (role === 'capitalizer') {
    return { status: 200, body: `${(url.searchParams.get('word') ?? '').toUpperCase()}\n` };
  }
  // simon: a dependency's failure is simon's failure, so the caller sees what the mesh let through.
  const word = await callThroughMesh('words', '/word');
  if (word.status !== 200) return { status: 502, body: `words answered ${word.status}${word.meshError ? ` (${word.meshError})` : ''}\n` };
  const capitalized = await callThroughMesh('capitalizer', `/capitalize?word=${encodeURIComponent(word.body.trim())}`);
  if (capitalized.status !== 200) return { status: 502, body: `capitalizer answered ${capitalized.status}${capitalized.meshError ? ` (${capitalized.meshError})` : ''}\n` };
  return { status: 200, body: `simon says: ${capitalized.body}` };
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://local');
  // Drain the request body even though no role reads it, so keep-alive connections stay usable.
  req.resume();
  const reply = ({ status, body }) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-served-by': `${name} ${flags.version}` });
    res.end(body);
  };
  setTimeout(() => {
    if (Math.random() < failureRatio) {
      reply({ status: 500, body: `${name} failed on purpose (failure ratio ${failureRatio})\n` });
      return;
    }
    answer(req, url).then(reply, (err) => reply({ status: 502, body: `${name}: ${err.message}\n` }));
  }, jittered(latencyMs));
});

server.listen(Number(flags.port), flags.host, () => {
  process.stdout.write(`${JSON.stringify({ name, role, version: flags.version, port: server.address().port, pid: process.pid })}\n`);
});

let stdinBuffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  stdinBuffer += chunk;
  let newline;
  while ((newline = stdinBuffer.indexOf('\n')) >= 0) {
    const line = stdinBuffer.slice(0, newline).trim();
    stdinBuffer = stdinBuffer.slice(newline + 1);
    if (line === '') continue;
    try {
      const message = JSON.parse(line);
      if (typeof message.outbound === 'string') outbound = message.outbound;
    } catch {
      process.stderr.write(`${name}: ignored a stdin line that is not JSON: ${line}\n`);
    }
  }
});

function stop() {
  toSidecar.destroy();
  server.closeAllConnections();
  server.close(() => process.exit(0));
  // close() waits for nothing now, but a stuck socket must not keep a demo process alive.
  setTimeout(() => process.exit(0), 500).unref();
}
process.stdin.on('end', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

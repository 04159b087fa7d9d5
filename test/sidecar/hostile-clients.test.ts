/**
 * Callers that misbehave on purpose: headers a byte at a time (slow loris), bodies that crawl or
 * stop, callers that never read their response, a flood of connections that say nothing, more
 * requests at once than the listener takes. The sidecar closes each by its documented timeout or
 * limit (short ones here, set by flags, so no test waits 30 real seconds), logs each kind once and
 * counts it, and meanwhile keeps serving callers that behave: zero failures, their p99 printed.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { dribble, openRaw, type RawConnection } from '../helpers/raw-socket.js';
import { metricValue, startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';
import { steadyLoad } from '../helpers/steady-load.js';

let backend: Server;
let backendAddress: string;
let backendRequests = 0;

before(async () => {
  // /big streams 64 MiB, following backpressure, so a caller that never reads holds it up.
  backend = createServer((req, res) => {
    backendRequests++;
    req.resume();
    req.on('end', () => {
      if (req.url === '/big') {
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let left = 1024;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = () => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      const answer = () => res.end('ok\n');
      if (req.url === '/slow') setTimeout(answer, 400);
      else answer();
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendAddress = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
});

after(async () => {
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));
});

const mesh = () => `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    words: { endpoints: ["${backendAddress}"], retries: false }\n`;

function warnings(sidecar: SidecarProcess, reason: string): number {
  return sidecar.logs.filter((l) => l.level === 'warn' && l.reason === reason).length;
}

test('slow loris, slow uploads and callers that never read are closed by their timeouts; the others are served throughout', async () => {
  // At debug every refusal is logged (the first of a kind at warn), so the test can await them.
  const sidecar = await startSidecarProcess(mesh(), ['--headers-timeout', '300ms', '--request-timeout', '1200ms', '--stream-idle-timeout', '800ms', '--log-level', 'debug']);
  try {
    const load = steadyLoad({ origin: `http://${sidecar.outbound}`, host: 'words', concurrency: 4 });
    const head = 'GET /loris HTTP/1.1\r\nHost: words\r\nX-Padding: ' + 'a'.repeat(200) + '\r\n\r\n';
    const loris = await Promise.all(Array.from({ length: 10 }, () => openRaw(sidecar.outbound)));
    const lorisSent = loris.map((c) => dribble(c.socket, head, 50));
    const upload = 'POST /upload HTTP/1.1\r\nHost: words\r\nContent-Length: 100000\r\n\r\n';
    const uploaders = await Promise.all(Array.from({ length: 10 }, () => openRaw(sidecar.outbound)));
    const uploadSent = uploaders.map((c) => {
      c.socket.write(upload);
      return dribble(c.socket, 'b'.repeat(100_000), 50, 10);
    });
    const readers = await Promise.all(Array.from({ length: 5 }, () => openRaw(sidecar.outbound, { read: false })));
    for (const r of readers) r.socket.write('GET /big HTTP/1.1\r\nHost: words\r\n\r\n');

    // Each attacker is closed by the sidecar long before it would have finished on its own.
    const sent = await Promise.all(lorisSent);
    for (const n of sent) assert.ok(n < head.length, `a slow loris got ${n} of ${head.length} header bytes in`);
    for (const c of loris) assert.match(await c.closed, /^(HTTP\/1\.1 408 |$)/);
    const uploaded = await Promise.all(uploadSent);
    for (const n of uploaded) assert.ok(n < 100_000, `a slow upload got ${n} bytes in`);
    for (const c of uploaders) assert.match(await c.closed, /^(HTTP\/1\.1 408 |$)/);
    // A caller that does not read cannot see the close either: once the sidecar says it closed all
    // five, they read what reached them, which must end well short of the 64 MiB body.
    await sidecar.waitForLogs((l) => l.reason === 'stream_idle_timeout', readers.length);
    for (const r of readers) r.socket.resume();
    for (const r of readers) {
      await r.closed;
      assert.ok(r.receivedBytes() < 64 * 1024 * 1024, `a caller that never read got the whole body (${r.receivedBytes()} bytes)`);
    }

    const report = await load.stop();
    console.log(`well-behaved callers during the attack: ${report.requests} requests, ${report.failures} failed, p50 ${report.p50Ms.toFixed(1)} ms, p99 ${report.p99Ms.toFixed(1)} ms`);
    assert.equal(report.failures, 0, report.failureSamples.join('\n'));
    assert.ok(report.requests > 0);

    const metrics = await sidecar.metrics();
    assert.ok(metricValue(metrics, 'meshwork_listener_refused_total', { listener: 'outbound', reason: 'headers_timeout' }) >= 10);
    assert.ok(metricValue(metrics, 'meshwork_listener_refused_total', { listener: 'outbound', reason: 'request_timeout' }) >= 10);
    assert.ok(metricValue(metrics, 'meshwork_listener_refused_total', { listener: 'outbound', reason: 'stream_idle_timeout' }) >= 5);
    // Once per kind, not once per connection.
    assert.equal(warnings(sidecar, 'headers_timeout'), 1);
    assert.equal(warnings(sidecar, 'request_timeout'), 1);
    assert.equal(warnings(sidecar, 'stream_idle_timeout'), 1);
  } finally {
    await sidecar.stop();
  }
});

test('a connection flood: connections past maxConnections are closed as they arrive, the silent ones by the headers timeout, and keep-alive callers are served throughout', async () => {
  const sidecar = await startSidecarProcess(mesh(), ['--max-connections', '100', '--headers-timeout', '500ms']);
  try {
    const load = steadyLoad({ origin: `http://${sidecar.outbound}`, host: 'words', concurrency: 4 });
    // The callers' connections are open before the flood comes.
    await load.warm;
    const flood = await Promise.all(Array.from({ length: 400 }, () => openRaw(sidecar.outbound).catch(() => undefined)));
    const closed = await Promise.all(flood.map((c) => c?.closed));
    assert.equal(closed.length, 400);
    const report = await load.stop();
    console.log(`keep-alive callers during the flood: ${report.requests} requests, ${report.failures} failed, p99 ${report.p99Ms.toFixed(1)} ms`);
    assert.equal(report.failures, 0, report.failureSamples.join('\n'));

    const metrics = await sidecar.metrics();
    const refused = metricValue(metrics, 'meshwork_listener_refused_total', { listener: 'outbound', reason: 'max_connections' });
    const timedOut = metricValue(metrics, 'meshwork_listener_refused_total', { listener: 'outbound', reason: 'headers_timeout' });
    assert.ok(refused >= 300 - 4, `refused ${refused}`);
    assert.equal(refused + timedOut, 400);
    assert.equal(warnings(sidecar, 'max_connections'), 1);
    assert.equal(warnings(sidecar, 'headers_timeout'), 1);
    // Once the flood has gone, new connections are taken again.
    const after = await request(`http://${sidecar.outbound}/after`, { headers: { host: 'words' } });
    assert.equal(after.statusCode, 200);
    await after.body.dump();
  } finally {
    await sidecar.stop();
  }
});

test('requests past maxRequestsInFlight get 503 OVERLOADED at once, and never reach the app', async () => {
  const sidecar = await startSidecarProcess(mesh(), ['--max-requests-in-flight', '5']);
  try {
    const before = backendRequests;
    const answers = await Promise.all(
      Array.from({ length: 12 }, async () => {
        // A connection each: the requests are in progress at once.
        const res = await request(`http://${sidecar.outbound}/slow`, { headers: { host: 'words', connection: 'close' }, reset: true });
        await res.body.dump();
        return { status: res.statusCode, error: res.headers['x-meshwork-error'], retryAfter: res.headers['retry-after'] };
      }),
    );
    const ok = answers.filter((a) => a.status === 200).length;
    const overloaded = answers.filter((a) => a.status === 503 && a.error === 'OVERLOADED' && a.retryAfter === '1').length;
    assert.equal(ok, 5);
    assert.equal(overloaded, 7);
    assert.equal(backendRequests - before, 5);
    assert.equal(warnings(sidecar, 'max_requests_in_flight'), 1);
  } finally {
    await sidecar.stop();
  }
});

// 10,000 in the soak; fewer here, where a full run of the suite shares two cores, and opening and
// using each connection is most of this test's time.
const IDLE_CONNECTIONS = Number(process.env.IDLE_CONNECTIONS ?? 2_000);

test(`${IDLE_CONNECTIONS} idle keep-alive connections are closed by the idle timeout, and the others are served meanwhile`, async () => {
  const sidecar = await startSidecarProcess(mesh(), ['--idle-timeout', '1500ms', '--max-connections', String(IDLE_CONNECTIONS + 100)]);
  const idle: RawConnection[] = [];
  try {
    const load = steadyLoad({ origin: `http://${sidecar.outbound}`, host: 'words', concurrency: 4, pauseMs: 5 });
    await load.warm;
    // Each connection makes one request and keeps the connection, saying nothing more.
    for (let opened = 0; opened < IDLE_CONNECTIONS; opened += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, IDLE_CONNECTIONS - opened) }, async () => {
          const c = await openRaw(sidecar.outbound);
          c.socket.write('GET /idle HTTP/1.1\r\nHost: words\r\n\r\n');
          return c;
        }),
      );
      idle.push(...batch);
    }
    const answers = await Promise.all(idle.map((c) => c.closed));
    for (const text of answers) assert.match(text, /^HTTP\/1\.1 200 /);
    const report = await load.stop();
    console.log(`well-behaved callers beside ${IDLE_CONNECTIONS} idle connections: ${report.requests} requests, ${report.failures} failed, p50 ${report.p50Ms.toFixed(1)} ms, p99 ${report.p99Ms.toFixed(1)} ms`);
    assert.equal(report.failures, 0, report.failureSamples.join('\n'));
    const metrics = await sidecar.metrics();
    assert.ok(metricValue(metrics, 'meshwork_listener_refused_total', { listener: 'outbound', reason: 'idle_timeout' }) >= IDLE_CONNECTIONS);
    assert.equal(sidecar.logs.filter((l) => l.reason === 'idle_timeout').length, 1, 'logged once');
  } finally {
    for (const c of idle) c.socket.destroy();
    await sidecar.stop();
  }
});

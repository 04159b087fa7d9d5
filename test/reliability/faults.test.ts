/**
 * Backends and discovery sources that fail the way real ones do: a process killed with SIGKILL in
 * the middle of a streamed response, a server that accepts and never answers, one that resets the
 * connection after its headers, an endpoint file deleted and a DNS server stopped. The caller gets
 * a clear error within its timeout and never hangs; idempotent requests are retried on another
 * endpoint; traffic goes on over the last known endpoints while discovery is down, and follows it
 * again once it is back. Short intervals keep this quick; the soak holds the source down a minute.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { isMeshError, meshClient } from '../../src/index.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { startBackend } from '../helpers/http-backend.js';
import { withClient } from '../helpers/with-client.js';

/** A backend in a process of its own, so the test can SIGKILL it: it streams a chunk every 20 ms, for ever. */
async function startStreamingProcess(): Promise<{ child: ChildProcess; address: string }> {
  const script = `
    const server = require('node:http').createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      setInterval(() => res.write('chunk\\n'), 20);
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return { child, address: `127.0.0.1:${port}` };
}

/** A raw server that does `onConnection` with each socket it accepts (holds it, resets it, ...). */
async function startRawServer(onConnection: (socket: Socket) => void): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A logger that keeps its warnings, for the discovery errors a client reports. */
function warningsLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const ignore = () => {};
  return { warnings, logger: { debug: ignore, info: ignore, error: ignore, warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`) } };
}

/** Calls until `backend` answers (each call a real request), or fails with `problem` after 200 tries. */
async function untilAnsweredBy(backend: string, call: () => Promise<string>, problem: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await call()) === backend) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(problem);
}

/** Runs `body` and fails if it takes longer than `limitMs`: a hang shows as a failure, not a stuck test. */
async function within<T>(limitMs: number, what: string, body: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([body(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${limitMs} ms (a hang)`)), limitMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('a backend killed with SIGKILL mid-response: the body fails with a clear error at once, and later requests go to the other endpoint', async () => {
  const killed = await startStreamingProcess();
  const good = await startBackend('good');
  try {
    await withClient(meshClient('stream', { endpoints: [killed.address], timeout: 5_000 }), async (client) => {
      const res = await client.request({ path: '/stream' });
      assert.equal(res.statusCode, 200);
      const reading = (async () => {
        for await (const chunk of res.body) {
          if (chunk.length > 0) killed.child.kill('SIGKILL');
        }
      })();
      const err = await within(3_000, 'the body of a killed backend', () => reading.then(() => undefined, (e: Error) => e));
      assert.ok(err instanceof Error, 'the body ended as if complete');
      assert.match(`${err.message} ${(err as { code?: string }).code ?? ''}`, /other side closed|terminated|ECONNRESET|socket|closed/i);
    });
    // The dead endpoint refuses connections now; idempotent requests are retried on the live one.
    await withClient(meshClient('pair', { endpoints: [killed.address, good.address], timeout: 5_000 }), async (client) => {
      for (let i = 0; i < 20; i++) {
        const res = await within(5_000, 'a GET with one endpoint dead', () => client.request({ path: `/after/${i}` }));
        assert.equal(res.statusCode, 200);
        await res.body.dump();
      }
    });
  } finally {
    killed.child.kill('SIGKILL');
    await good.stop();
  }
});

test('a backend that accepts and never answers: GETs are retried on the other endpoint after the per-try timeout; a POST fails with TIMEOUT within the timeout', async () => {
  const blackHole = await startRawServer(() => {});
  const good = await startBackend('good');
  try {
    await withClient(meshClient('holes', { endpoints: [blackHole.address, good.address], perTryTimeout: 150, timeout: 3_000, balancer: 'round-robin' }), async (client) => {
      for (let i = 0; i < 6; i++) {
        const res = await within(3_000, 'a GET with one endpoint silent', () => client.request({ path: `/get/${i}` }));
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['x-backend'], 'good');
        await res.body.dump();
      }
    });
    await withClient(meshClient('hole', { endpoints: [blackHole.address], timeout: 400 }), async (client) => {
      const err = await within(2_000, 'a POST to a silent endpoint', () => client.request({ method: 'POST', path: '/post', body: 'x' }).then(() => undefined, (e: unknown) => e));
      assert.ok(isMeshError(err, 'TIMEOUT') || isMeshError(err, 'PER_TRY_TIMEOUT'), `expected a timeout, got ${String(err)}`);
      assert.match((err as Error).message, /400 ?ms|timed out|timeout/i);
    });
  } finally {
    await blackHole.close();
    await good.stop();
  }
});

test('a backend that resets the connection after its headers: the caller gets a clear error, never a hang', async () => {
  const resetter = await startRawServer((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial');
      setTimeout(() => socket.resetAndDestroy(), 20);
    });
  });
  try {
    await withClient(meshClient('resets', { endpoints: [resetter.address], timeout: 3_000 }), async (client) => {
      const outcome = await within(3_000, 'a response reset after its headers', async () => {
        try {
          const res = await client.request({ path: '/reset' });
          await res.body.text();
          return undefined;
        } catch (err) {
          return err as Error;
        }
      });
      assert.ok(outcome instanceof Error, 'a body cut short by a reset read as complete');
      assert.match(`${outcome.message} ${(outcome as { code?: string }).code ?? ''}`, /ECONNRESET|other side closed|reset|terminated/i);
      // A caller that has not started reading when the reset comes: no crash, and the error when it reads.
      const res = await client.request({ path: '/reset-unread' });
      await new Promise((resolve) => res.body.once('close', resolve));
      await assert.rejects(res.body.text(), (err: unknown) => isMeshError(err, 'ENDPOINT_FAILED') && /ECONNRESET/.test((err as Error).message));
    });
  } finally {
    await resetter.close();
  }
});

test('the endpoint file deleted: traffic goes on over the last endpoints, the error is reported, and a new file is followed', async () => {
  const [first, second] = [await startBackend('first'), await startBackend('second')];
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-faults-'));
  const file = join(dir, 'eps.json');
  await writeFile(file, JSON.stringify([first.address]));
  const { logger, warnings } = warningsLogger();
  try {
    await withClient(meshClient('files', { discovery: { type: 'file', path: file, pollIntervalMs: 100 }, logger }), async (client) => {
      const call = async () => {
        const res = await client.request({ path: '/' });
        await res.body.dump();
        return String(res.headers['x-backend']);
      };
      assert.equal(await call(), 'first');
      await unlink(file);
      // Requests keep going to the last known endpoint while the file is gone (each one a real request).
      for (let i = 0; !warnings.some((w) => /discovery failed; keeping the last known endpoints.*cannot read endpoint file \(ENOENT\)/.test(w)); i++) {
        assert.ok(i < 400, `the deleted file was never reported: ${warnings.join('; ')}`);
        assert.equal(await call(), 'first');
        await new Promise((r) => setTimeout(r, 25));
      }
      for (let i = 0; i < 10; i++) assert.equal(await call(), 'first');
      await writeFile(file, JSON.stringify([second.address]));
      await untilAnsweredBy('second', call, 'the new file was never followed');
    });
  } finally {
    await first.stop();
    await second.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the DNS server stopped: traffic goes on over the last endpoints, and the new records are followed once it is back', async () => {
  const [first, second] = [await startBackend('first'), await startBackend('second')];
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-faults-dns-'));
  const dns = await startDnsmasq(join(dir, 'hosts'), [['127.0.0.1', 'b.faults.test']], [{ name: '_http._tcp.faults.test', target: 'b.faults.test', port: first.port }]);
  try {
    const { logger, warnings } = warningsLogger();
    await withClient(meshClient('dns', { discovery: { type: 'dns+srv', name: '_http._tcp.faults.test', nameservers: [dns.nameserver], refreshIntervalMs: 100, queryTimeoutMs: 200 }, logger }), async (client) => {
      const call = async () => {
        const res = await client.request({ path: '/' });
        await res.body.dump();
        return String(res.headers['x-backend']);
      };
      assert.equal(await call(), 'first');
      await dns.stop();
      for (let i = 0; !warnings.some((w) => /discovery failed; keeping the last known endpoints.*SRV lookup failed/.test(w)); i++) {
        assert.ok(i < 400, `the stopped DNS server was never reported: ${warnings.join('; ')}`);
        assert.equal(await call(), 'first');
        await new Promise((r) => setTimeout(r, 25));
      }
      for (let i = 0; i < 10; i++) assert.equal(await call(), 'first');
      await dns.restart([{ name: '_http._tcp.faults.test', target: 'b.faults.test', port: second.port }]);
      await untilAnsweredBy('second', call, 'the records served after the restart were never followed');
    });
  } finally {
    await dns.stop();
    await first.stop();
    await second.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

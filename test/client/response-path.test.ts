/**
 * The response path's edge cases, in-process and through the sidecar: a body much larger than any
 * buffer arrives whole; a reader that stops reading stops the server (backpressure reaches the
 * socket, nothing piles up in between); a caller that gives up mid-body frees the connection;
 * trailers arrive after the body; a retry decided on the response's head does not read the failed
 * body to its end.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetch } from 'undici';
import { createMesh, meshClient } from '../../src/index.js';
import { withClient } from '../helpers/with-client.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const CHUNK = 64 * 1024;

/** What the server has written of the body it is sending now, and whether the caller went away. */
const progress = { written: 0, total: 0, closedEarly: false, finished: false };
let attempts = 0;
let server: Server;
let address: string;

function pattern(i: number): Buffer {
  return Buffer.alloc(CHUNK, i % 251);
}

function expectedDigest(total: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i * CHUNK < total; i++) hash.update(pattern(i));
  return hash.digest('hex');
}

/** Streams `total` bytes honouring backpressure, recording how far it got. */
function streamBody(res: ServerResponse, total: number, status = 200): void {
  progress.written = 0;
  progress.total = total;
  progress.closedEarly = false;
  progress.finished = false;
  res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  res.once('close', () => {
    if (!res.writableFinished) progress.closedEarly = true;
  });
  let i = 0;
  const pump = () => {
    while (progress.written < total) {
      const chunk = pattern(i++);
      progress.written += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    progress.finished = true;
    res.end();
  };
  pump();
}

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    if (url.pathname === '/big') return streamBody(res, Number(url.searchParams.get('bytes')));
    if (url.pathname === '/trailers') {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('part one, ');
      res.write('part two');
      res.addTrailers({ 'x-checksum': 'abc123' });
      return res.end();
    }
    if (url.pathname === '/flaky') {
      // The first attempt fails with a large body nobody should read to its end.
      if (attempts++ === 0) return streamBody(res, 8 * 1024 * 1024, 503);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('second attempt');
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function digestOf(body: AsyncIterable<Uint8Array>): Promise<{ bytes: number; digest: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, digest: hash.digest('hex') };
}

test('a body far larger than the stream buffers arrives whole through request()', async () => {
  await withClient(meshClient('big', { endpoints: [address] }), async (client) => {
    const total = 4 * 1024 * 1024;
    const res = await client.request({ path: `/big?bytes=${total}` });
    assert.deepEqual(await digestOf(res.body), { bytes: total, digest: expectedDigest(total) });
  });
});

test('a reader that stops reading stops the server; resumed, it gets every byte', async () => {
  await withClient(meshClient('big', { endpoints: [address] }), async (client) => {
    const total = 64 * 1024 * 1024;
    const res = await client.request({ path: `/big?bytes=${total}` });
    const iterator = res.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    await sleep(400);
    // Kernel socket buffers and one stream buffer hold a few MiB at most; the rest must wait.
    assert.ok(progress.written < total / 2, `the server wrote ${progress.written} of ${total} bytes while nobody read`);
    const hash = createHash('sha256').update(first.value as Buffer);
    let bytes = (first.value as Buffer).length;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      hash.update(next.value as Buffer);
      bytes += (next.value as Buffer).length;
    }
    assert.equal(bytes, total);
    assert.equal(hash.digest('hex'), expectedDigest(total));
  });
});

test('a caller that gives up mid-body frees the connection at once', async () => {
  await withClient(meshClient('big', { endpoints: [address], connection: { connections: 1 } }), async (client) => {
    const res = await client.request({ path: `/big?bytes=${64 * 1024 * 1024}` });
    await res.body[Symbol.asyncIterator]().next();
    res.body.destroy();
    for (let i = 0; i < 50 && !progress.closedEarly; i++) await sleep(20);
    assert.ok(progress.closedEarly, 'the server saw the connection close before the body was sent');
    // With one connection allowed, the next request proves it was given back (or replaced).
    const next = await client.request({ path: '/trailers' });
    assert.equal(next.statusCode, 200);
    await next.body.dump();
  });
});

test('trailers arrive after the body, through request()', async () => {
  await withClient(meshClient('trailers', { endpoints: [address] }), async (client) => {
    const res = await client.request({ path: '/trailers' });
    assert.equal(await res.body.text(), 'part one, part two');
    assert.equal(res.trailers['x-checksum'], 'abc123');
  });
});

test('a retry decided on the head does not read the failed body to its end', async () => {
  attempts = 0;
  const routes = [{ name: 'flaky', condition: { pathRegex: '/flaky' }, isRetryable: true }];
  await withClient(meshClient('flaky', { endpoints: [address], routes, retries: { backoff: { base: 1, max: 1 } } }), async (client) => {
    const res = await client.request({ path: '/flaky' });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'second attempt');
    assert.equal(attempts, 2);
    assert.ok(!progress.finished, 'the 8 MiB body of the failed attempt was read to its end');
  });
});

test('fetch through mesh.dispatcher: a large body arrives whole, with backpressure into fetch', async () => {
  const mesh = createMesh({ services: { big: { endpoints: [address] } } });
  try {
    const total = 16 * 1024 * 1024;
    const res = await fetch(`http://big/big?bytes=${total}`, { dispatcher: mesh.dispatcher });
    const reader = res.body!.getReader();
    const first = await reader.read();
    await sleep(300);
    assert.ok(progress.written < total, 'fetch buffered the whole body while nobody read');
    const hash = createHash('sha256').update(first.value!);
    let bytes = first.value!.length;
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      hash.update(next.value);
      bytes += next.value.length;
    }
    assert.equal(bytes, total);
    assert.equal(hash.digest('hex'), expectedDigest(total));
  } finally {
    await mesh.close();
  }
});

test('through the sidecar: a slow HTTP/1.1 reader stops the server, then gets every byte', async () => {
  let sidecar: SidecarProcess | undefined;
  try {
    sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    big: { endpoints: ["${address}"] }\n`);
    const total = 64 * 1024 * 1024;
    const [host, port] = sidecar.outbound.split(':');
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ host, port: Number(port), path: `/big?bytes=${total}`, headers: { host: 'big' } }, resolve);
      req.once('error', reject);
      req.end();
    });
    res.pause();
    await sleep(600);
    assert.ok(progress.written < total / 2, `the server wrote ${progress.written} of ${total} bytes while nobody read`);
    assert.deepEqual(await digestOf(res), { bytes: total, digest: expectedDigest(total) });
  } finally {
    await sidecar?.stop();
  }
});

/**
 * One port speaks HTTP/1.1, HTTP/2 with prior knowledge and TLS; the first bytes decide. An HTTP/1.1
 * request may arrive in pieces, and its first byte "P" (POST, PUT, PATCH) is also the HTTP/2
 * preface's: the listener must wait until the bytes differ from the preface, or the whole preface is
 * there, before it decides.
 */
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sniff } from '../../src/sidecar-mode/proxy-listener.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

let backend: TestBackend;
let sidecar: SidecarProcess;

before(async () => {
  backend = await startBackend('words');
  sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    words: { endpoints: ["${backend.address}"] }\n`);
});

after(async () => {
  await sidecar?.stop();
  await backend?.stop();
});

function open(): Promise<Socket> {
  const [host, port] = sidecar.outbound.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port), noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function readUntilClose(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.once('close', () => resolve(text));
  });
}

test('an HTTP/1.1 POST whose first segment is just "P" is HTTP/1.1, not a broken HTTP/2 preface', async () => {
  const socket = await open();
  const reply = readUntilClose(socket);
  socket.write('P');
  await sleep(100);
  socket.write('OST /words HTTP/1.1\r\nHost: words\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  const text = await reply;
  assert.match(text, /^HTTP\/1\.1 200 /, text.slice(0, 200));
  assert.equal(backend.bodies.at(-1)?.toString(), 'hello');
});

test('"PR" split from the rest: still HTTP/1.1 once the bytes part from the preface', async () => {
  const socket = await open();
  const reply = readUntilClose(socket);
  socket.write('PR');
  await sleep(50);
  socket.write('OPFIND /words HTTP/1.1\r\nHost: words\r\nConnection: close\r\n\r\n');
  // The service answers any method; PROPFIND parts from "PRI" at its third byte.
  assert.match(await reply, /^HTTP\/1\.1 200 /);
});

test('the HTTP/2 preface sent a few bytes at a time is HTTP/2', async () => {
  const socket = await open();
  // The client session writes the preface; split its first write into small pieces.
  const write = socket.write.bind(socket);
  let first = true;
  socket.write = ((chunk: Buffer, ...rest: never[]) => {
    if (!first) return write(chunk, ...rest);
    first = false;
    const bytes = Buffer.from(chunk);
    void (async () => {
      for (let i = 0; i < bytes.length; i += 5) {
        write(bytes.subarray(i, i + 5));
        await sleep(5);
      }
    })();
    return true;
  }) as typeof socket.write;
  const session = h2connect(`http://${sidecar.outbound}`, { createConnection: () => socket });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ':path': '/words', ':authority': 'words' });
      stream.once('response', (h) => resolve(Number(h[':status'])));
      stream.once('error', reject);
      stream.resume();
    });
    assert.equal(status, 200);
  } finally {
    session.destroy();
  }
});

test('sniff decides only when it can', () => {
  assert.equal(sniff(Buffer.from('P'), false), 'undecided');
  assert.equal(sniff(Buffer.from('PRI * HTTP/2.0\r\n'), false), 'undecided');
  assert.equal(sniff(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), false), 'h2');
  assert.equal(sniff(Buffer.from('PO'), false), 'http1');
  assert.equal(sniff(Buffer.from('GET / HTTP/1.1'), false), 'http1');
  assert.equal(sniff(Buffer.from([0x16, 0x03, 0x01]), true), 'tls');
  assert.equal(sniff(Buffer.from([0x16, 0x03, 0x01]), false), 'http1');
});

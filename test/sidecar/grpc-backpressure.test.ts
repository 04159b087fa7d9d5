/**
 * gRPC streams through the sidecar under backpressure: a client that reads slowly must still get
 * every message, in order, and the status the server sent; large messages must not lose the tail of
 * the stream; after such streams the service keeps answering; and a drain ends at its grace period
 * even while a stream is stuck behind a reader that stopped reading.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const identity = (b: Buffer) => b;
const streamService: grpc.ServiceDefinition = {
  // A request names the message count and size: "64x4096".
  blocks: { path: '/test.Blocks/Blocks', requestStream: false, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  ping: { path: '/test.Blocks/Ping', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const BlocksClient = grpc.makeGenericClientConstructor(streamService, 'Blocks');
type BlocksStub = grpc.Client & Record<'blocks' | 'ping', (...args: unknown[]) => unknown>;

let server: grpc.Server;
let serverAddress: string;
let sidecar: SidecarProcess;

/** Message i (1-based) is `size` bytes of (i % 251), so loss, duplication and reordering all show. */
function block(i: number, size: number): Buffer {
  return Buffer.alloc(size, i % 251);
}

before(async () => {
  server = new grpc.Server();
  server.addService(streamService, {
    blocks: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const [count, size, eager] = call.request.toString().split('x') as [string, string, string | undefined];
      let i = 0;
      if (eager === 'eager') {
        // A server that ignores backpressure: everything is queued at once, then the status.
        for (let n = 1; n <= Number(count); n++) call.write(block(n, Number(size)));
        return void call.end();
      }
      // The server honours backpressure too, as a real one does.
      const pump = () => {
        while (i < Number(count)) {
          i++;
          if (!call.write(block(i, Number(size)))) return void call.once('drain', pump);
        }
        call.end();
      };
      pump();
    },
    ping: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from('pong')),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  serverAddress = `127.0.0.1:${port}`;
  sidecar = await startSidecarProcess(blocksConfig());
});

function blocksConfig(): string {
  return `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    blocks: { endpoints: ["${serverAddress}"] }\n`;
}

after(async () => {
  await sidecar?.stop();
  server?.forceShutdown();
});

function client(address = sidecar.outbound): BlocksStub {
  return new BlocksClient(address, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'blocks' }) as never;
}

/** Reads a whole stream, pausing `pauseMs` after the first message; resolves with messages and status. */
function readStream(stub: BlocksStub, count: number, size: number, pauseMs: number, eager = false): Promise<{ messages: Buffer[]; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    const call = stub.blocks(Buffer.from(`${count}x${size}${eager ? 'xeager' : ''}`), { deadline: Date.now() + 20_000 }) as grpc.ClientReadableStream<Buffer>;
    const messages: Buffer[] = [];
    let status: grpc.StatusObject | undefined;
    let ended = false;
    const done = () => status && ended && resolve({ messages, status });
    call.on('data', (m: Buffer) => {
      messages.push(m);
      if (messages.length === 1 && pauseMs > 0) {
        call.pause();
        setTimeout(() => call.resume(), pauseMs);
      }
    });
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      done();
    });
    call.on('end', () => {
      ended = true;
      done();
    });
    call.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.OK ? undefined : reject(err)));
  });
}

function assertComplete(messages: Buffer[], count: number, size: number): void {
  assert.equal(messages.length, count, `got ${messages.length} of ${count} messages`);
  messages.forEach((m, index) => assert.ok(m.equals(block(index + 1, size)), `message ${index + 1} is wrong`));
}

test('a slow reader gets every message of a server stream, and OK only after all of them', async () => {
  const stub = client();
  try {
    for (let round = 0; round < 4; round++) {
      const { messages, status } = await readStream(stub, 64, 4096, 300, round % 2 === 1);
      assert.equal(status.code, grpc.status.OK);
      assertComplete(messages, 64, 4096);
    }
  } finally {
    stub.close();
  }
});

test('large messages: 64 × 64 KiB streams arrive whole, and the service still answers afterwards', async () => {
  const stub = client();
  try {
    for (let round = 0; round < 4; round++) {
      const { messages, status } = await readStream(stub, 64, 65_536, round % 2 === 0 ? 0 : 200);
      assert.equal(status.code, grpc.status.OK);
      assertComplete(messages, 64, 65_536);
    }
    const reply = await new Promise<string>((resolve, reject) =>
      stub.ping(Buffer.from('ping'), { deadline: Date.now() + 5_000 }, (err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r.toString()))),
    );
    assert.equal(reply, 'pong');
  } finally {
    stub.close();
  }
});

test('a drain ends at its grace period even with a stream stuck behind a reader that stopped reading', async () => {
  const own = await startSidecarProcess(blocksConfig(), ['--drain-grace', '1s']);
  const stub = client(own.outbound);
  // Streams that ended while their reader paused (this is where undici's HTTP/2 client used to leave
  // streams behind that no close could finish).
  for (let round = 0; round < 2; round++) await readStream(stub, 64, 4096, 300, true).catch(() => undefined);
  const call = stub.blocks(Buffer.from('4096x65536')) as grpc.ClientReadableStream<Buffer>;
  call.on('error', () => {});
  await new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.pause(); // and never resume: the sidecar's buffers fill and the stream stalls
  await sleep(200);
  const started = Date.now();
  const code = await Promise.race([own.stop('SIGTERM'), sleep(8_000).then(() => 'still running' as const)]);
  stub.close();
  if (code === 'still running') {
    own.child.kill('SIGKILL');
    assert.fail('the sidecar did not exit within 8 s of SIGTERM with --drain-grace 1s');
  }
  assert.ok(Date.now() - started < 6_000);
  assert.ok(own.logs.some((l) => l.msg === 'draining'), 'the drain was logged');
});

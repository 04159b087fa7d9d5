/**
 * A grpcClient applies its service's policy as the mesh has it now: a config reload that changes the
 * service's faults or timeout reaches the next call of a client made before the reload, as it reaches
 * the next HTTP request.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../src/core/logger.js';
import { createMesh } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { EventQueue } from '../helpers/event-queue.js';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  get: { path: '/test.Books/Get', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const BooksClient = grpc.makeGenericClientConstructor(service, 'Books');
type Books = grpc.Client & { get: (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void };

let server: grpc.Server;
let address = '';
let dir: string;
let served = 0;

before(async () => {
  server = new grpc.Server();
  server.addService(service, {
    get: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
      served++;
      callback(null, Buffer.from('a book'));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
  dir = await mkdtemp(join(tmpdir(), 'meshwork-grpc-reload-'));
});
after(async () => {
  server.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

const call = (client: Books) => new Promise<{ err: grpc.ServiceError | null }>((resolve) => client.get(Buffer.from('1'), (err) => resolve({ err })));

test('a reload that adds a fault reaches the next call of a grpcClient made before it, and one that removes it too', async () => {
  const file = join(dir, 'mesh.yaml');
  const yaml = (faults: string) => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    books:
      endpoints: ["${address}"]
      faults: ${faults}
`;
  await writeFile(file, yaml('[]'));
  const logs = new EventQueue<string>();
  const logger: Logger = { debug: logs.push, info: logs.push, warn: logs.push, error: logs.push };
  const mesh = createMesh({ config: file, logger });
  const books = grpcClient(mesh, BooksClient, 'books') as unknown as Books;
  const reloaded = () => logs.until((msg) => msg === 'config reloaded', 'the reload');
  try {
    assert.equal((await call(books)).err, null);

    await writeFile(file, yaml('[{ abort: { percent: 100, httpStatus: 503, grpcStatus: PERMISSION_DENIED } }]'));
    await reloaded();
    const before = served;
    const { err } = await call(books);
    assert.equal(err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(err!.details, /fault injected/);
    assert.equal(served, before, 'the aborted call never reached the server');

    await writeFile(file, yaml('[]'));
    await reloaded();
    assert.equal((await call(books)).err, null);
  } finally {
    books.close();
    await mesh.close();
  }
});

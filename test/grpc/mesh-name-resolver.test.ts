/**
 * `mesh:///<service>` targets in a real grpc-js channel: endpoints come from meshwork discovery and
 * changes reach the channel while it runs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { registerMeshResolver } from '../../src/grpc/mesh-name-resolver.js';

const identity = (b: Buffer) => b;
const whoService: grpc.ServiceDefinition = {
  who: { path: '/test.Who/Who', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  slowWho: { path: '/test.Who/SlowWho', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const WhoClient = grpc.makeGenericClientConstructor(whoService, 'Who');

const servers: { server: grpc.Server; port: number; name: string }[] = [];
let dir: string;
let endpointsFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-grpc-'));
  endpointsFile = join(dir, 'who.json');
  for (const name of ['a', 'b', 'c']) {
    const server = new grpc.Server();
    server.addService(whoService, {
      who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)),
      slowWho: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => setTimeout(() => callback(null, Buffer.from(name)), 600),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    servers.push({ server, port, name });
  }
  writeFileSync(endpointsFile, JSON.stringify(servers.slice(0, 2).map((s) => `127.0.0.1:${s.port}`)));
  registerMeshResolver({ discoveryOf: (service) => (service === 'who' ? `file:${endpointsFile}` : undefined) });
});

after(() => {
  for (const { server } of servers) server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

type WhoStub = grpc.Client & Record<'who' | 'slowWho', (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void>;
const ask = (client: WhoStub) => new Promise<string>((resolve, reject) => client.who(Buffer.from(''), (err, res) => (err ? reject(err) : resolve(res.toString()))));

test('a mesh:/// channel spreads calls over the discovered endpoints and follows changes live', async () => {
  const client = new WhoClient('mesh:///who', grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  }) as unknown as WhoStub;
  try {
    const first = new Set<string>();
    for (let i = 0; i < 20; i++) first.add(await ask(client));
    assert.deepEqual([...first].sort(), ['a', 'b']);

    // c joins and a leaves: the file resolver notices, and the channel follows.
    writeFileSync(endpointsFile, JSON.stringify([`127.0.0.1:${servers[1]!.port}`, `127.0.0.1:${servers[2]!.port}`]));
    let seen = new Set<string>();
    for (let attempt = 0; attempt < 100; attempt++) {
      seen = new Set<string>();
      for (let i = 0; i < 10; i++) seen.add(await ask(client));
      if (seen.has('c') && !seen.has('a')) break;
      await sleep(50);
    }
    assert.deepEqual([...seen].sort(), ['b', 'c']);
  } finally {
    client.close();
  }
});

test('an unknown service fails the call with UNAVAILABLE and says which service', async () => {
  const client = new WhoClient('mesh:///nobody', grpc.credentials.createInsecure()) as unknown as WhoStub;
  try {
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      (client as unknown as { who: (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError) => void) => void }).who(Buffer.from(''), new grpc.Metadata(), { deadline: Date.now() + 2_000 }, (e) => resolve(e)),
    );
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /no service "nobody"/);
  } finally {
    client.close();
  }
});

test('an endpoint removed from discovery is drained: its call in flight finishes, new calls go elsewhere', async () => {
  const only = (i: number) => writeFileSync(endpointsFile, JSON.stringify([`127.0.0.1:${servers[i]!.port}`]));
  only(0);
  const client = new WhoClient('mesh:///who', grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  }) as unknown as WhoStub;
  try {
    for (let i = 0; i < 100 && (await ask(client)) !== 'a'; i++) await sleep(50);
    const inFlight = new Promise<string>((resolve, reject) => client.slowWho(Buffer.from(''), (err, res) => (err ? reject(err) : resolve(res.toString()))));
    await sleep(50);
    only(1);
    let next = '';
    for (let i = 0; i < 100 && next !== 'b'; i++) {
      next = await ask(client);
      if (next !== 'b') await sleep(50);
    }
    assert.equal(next, 'b');
    assert.equal(await inFlight, 'a', 'the call on the removed endpoint completed');
  } finally {
    client.close();
  }
});

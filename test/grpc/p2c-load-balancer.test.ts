/**
 * meshwork's P2C balancers as grpc-js policies, in real channels over three grpc-js servers, one of
 * them slow: peak-EWMA and least-request steer away from it; round_robin (grpc-js's own) does not.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { registerMeshResolver } from '../../src/grpc/mesh-name-resolver.js';
import { P2C_EWMA, P2C_LEAST_REQUEST, registerMeshBalancers } from '../../src/grpc/p2c-load-balancer.js';

const identity = (b: Buffer) => b;
const whoService: grpc.ServiceDefinition = {
  who: { path: '/test.Who/Who', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const WhoClient = grpc.makeGenericClientConstructor(whoService, 'Who');
type WhoStub = grpc.Client & { who: (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void };

const servers: grpc.Server[] = [];
const ports: number[] = [];

before(async () => {
  // The slow server is 200 times slower, not 40: all three share this process and a loaded machine
  // stretches the fast ones' 1 ms many times over, which at 40 ms blurred the difference the picks see.
  for (const [name, delayMs] of [['fast-1', 1], ['fast-2', 1], ['slow', 200]] as const) {
    const server = new grpc.Server();
    server.addService(whoService, { who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => setTimeout(() => callback(null, Buffer.from(name)), delayMs) });
    ports.push(await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))));
    servers.push(server);
  }
  registerMeshResolver({ discoveryOf: (service) => (service === 'who' ? ports.map((p) => `127.0.0.1:${p}`) : undefined) });
  registerMeshBalancers();
});

after(() => {
  for (const server of servers) server.forceShutdown();
});

async function share(policy: string): Promise<Record<string, number>> {
  const client = new WhoClient('mesh:///who', grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] }),
  }) as unknown as WhoStub;
  const counts: Record<string, number> = {};
  try {
    let sent = 0;
    const worker = async () => {
      while (sent < 300) {
        sent++;
        const who = await new Promise<string>((resolve, reject) => client.who(Buffer.from(''), (err, res) => (err ? reject(err) : resolve(res.toString()))));
        counts[who] = (counts[who] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    client.close();
  }
  return counts;
}

for (const policy of [P2C_EWMA, P2C_LEAST_REQUEST]) {
  test(`${policy} sends the slow server a small share; every call succeeds`, async () => {
    const counts = await share(policy);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(total, 300);
    assert.ok((counts['fast-1'] ?? 0) > 0 && (counts['fast-2'] ?? 0) > 0, JSON.stringify(counts));
    assert.ok((counts.slow ?? 0) < 300 * 0.15, `slow got ${counts.slow} of 300: ${JSON.stringify(counts)}`);
  });
}

test('round_robin, for contrast, gives the slow server its third', async () => {
  const counts = await share('round_robin');
  assert.ok((counts.slow ?? 0) >= 90, JSON.stringify(counts));
});

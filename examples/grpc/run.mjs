// gRPC through the mesh in a Node process: `node examples/grpc/run.mjs`.
// Three Greeter servers (one of them slow, one of them failing now and then); a grpc-js client made
// by meshwork/grpc balances with P2C peak-EWMA, retries UNAVAILABLE within the retry budget, and
// counts every call in mesh.metrics.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createMesh } from 'meshwork';
import { grpcClient } from 'meshwork/grpc';

const definition = protoLoader.loadSync(fileURLToPath(new URL('./greeter.proto', import.meta.url)));
const { demo } = grpc.loadPackageDefinition(definition);

async function startServer(name, { delayMs = 1, unavailableRatio = 0 } = {}) {
  const server = new grpc.Server();
  server.addService(demo.Greeter.service, {
    SayHello(call, callback) {
      if (Math.random() < unavailableRatio) return callback({ code: grpc.status.UNAVAILABLE, details: `${name} is busy` });
      setTimeout(() => callback(null, { message: `Hello, ${call.request.name}`, server: name }), delayMs);
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { name, server, address: `127.0.0.1:${port}` };
}

const servers = [await startServer('greeter-a'), await startServer('greeter-b', { unavailableRatio: 0.2 }), await startServer('greeter-slow', { delayMs: 150 })];
const mesh = createMesh({
  services: {
    greeter: {
      endpoints: servers.map((s) => s.address),
      balancer: 'p2c-ewma',
      timeout: '2s', // every call's deadline unless it sets its own
      retries: { budget: { retryRatio: 0.2, minRetriesPerSecond: 10 }, backoff: { base: '5ms', max: '50ms' }, maxAttempts: 5 },
    },
  },
});
const greeter = grpcClient(mesh, demo.Greeter, 'greeter');

const served = {};
let failed = 0;
let sent = 0;
const worker = async () => {
  while (sent < 300) {
    sent++;
    try {
      const reply = await new Promise((resolve, reject) => greeter.SayHello({ name: 'mesh' }, (err, res) => (err ? reject(err) : resolve(res))));
      served[reply.server] = (served[reply.server] ?? 0) + 1;
    } catch {
      failed++;
    }
  }
};
await Promise.all(Array.from({ length: 8 }, worker));

console.log('300 calls, 8 at a time, through meshwork/grpc:');
for (const { name } of servers) console.log(`  ${name.padEnd(13)} answered ${String(served[name] ?? 0).padStart(3)}`);
console.log(`  failed after retries: ${failed}`);
const metrics = (await mesh.registry.metrics()).split('\n').filter((line) => /^(response_total|meshwork_retries_total)\{.*greeter/.test(line));
console.log('from mesh.registry:');
for (const line of metrics) console.log(`  ${line}`);

greeter.close();
for (const { server } of servers) server.forceShutdown();
await mesh.close();

/**
 * A grpc-js server in a child process (so it does not share the measuring process's event loop)
 * with one unary method that answers at once. Run directly: `node --import tsx
 * benchmarks/lib/grpc-backend.ts`; it prints its port as one JSON line.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer) => b;
export const BENCH_SERVICE: grpc.ServiceDefinition = {
  echo: { path: '/bench.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

export async function startGrpcBackend(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`gRPC backend exited (${code})`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, stop: () => child.kill() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = new grpc.Server();
  const reply = Buffer.from('{"ok":true}');
  server.addService(BENCH_SERVICE, { echo: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, reply) });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(JSON.stringify({ port }));
  });
}

/**
 * What meshwork/grpc costs a unary gRPC call: a plain grpc-js channel to one server against
 * `grpcClient(mesh, ...)` to the same server (resolver, P2C balancer, the policy interceptor:
 * deadline, metrics, retries), 32 calls in flight, interleaved rounds. Target: meshed ≥ 0.95× plain
 * throughput. The CPU each call costs the client process is measured too, over a fixed number of
 * calls: on the shared 2-core machine it is the steadier of the two figures.
 */
import * as grpc from '@grpc/grpc-js';
import { createMesh } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { closedLoop, median } from '../lib/closed-loop.js';
import { cpuPerCall } from '../lib/cpu-per-call.js';
import { BENCH_SERVICE, startGrpcBackend } from '../lib/grpc-backend.js';
import type { SuiteResult } from './retry-amplification.js';

const IN_FLIGHT = 32;
const TARGET = 0.95;
const EchoClient = grpc.makeGenericClientConstructor(BENCH_SERVICE, 'Echo');
type Echo = grpc.Client & { echo: (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void };

const PING = Buffer.from('{"ping":1}');
const callOf = (client: Echo) => () => new Promise<void>((resolve, reject) => client.echo(PING, (err) => (err ? reject(err) : resolve())));
const drive = (client: Echo, ms: number) => closedLoop(callOf(client), IN_FLIGHT, ms);

export async function run({ quick }: { quick: boolean }): Promise<SuiteResult> {
  const backend = await startGrpcBackend();
  const mesh = createMesh({ services: { bench: { endpoints: [`127.0.0.1:${backend.port}`] } } });
  const plain = new EchoClient(`127.0.0.1:${backend.port}`, grpc.credentials.createInsecure()) as unknown as Echo;
  const meshed = grpcClient(mesh, EchoClient, 'bench') as unknown as Echo;
  try {
    const rounds = quick ? 2 : 5;
    const ms = quick ? 1_500 : 4_000;
    await drive(plain, 500);
    await drive(meshed, 500);
    const results = { plain: [] as number[], meshed: [] as number[], plainP99: [] as number[], meshedP99: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const which of round % 2 === 0 ? (['plain', 'meshed'] as const) : (['meshed', 'plain'] as const)) {
        const r = await drive(which === 'plain' ? plain : meshed, ms);
        results[which].push(r.rps);
        results[which === 'plain' ? 'plainP99' : 'meshedP99'].push(r.p99Ms);
        console.error(`grpc-overhead: round ${round + 1}/${rounds} ${which}: ${Math.round(r.rps)} calls/s`);
      }
    }
    const calls = quick ? 5_000 : 20_000;
    const cpu = { plain: [] as number[], meshed: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const which of round % 2 === 0 ? (['plain', 'meshed'] as const) : (['meshed', 'plain'] as const)) {
        const r = await cpuPerCall(callOf(which === 'plain' ? plain : meshed), IN_FLIGHT, calls);
        cpu[which].push(r.cpuUs);
        console.error(`grpc-overhead: cpu round ${round + 1}/${rounds} ${which}: ${r.cpuUs.toFixed(1)} µs per call`);
      }
    }
    const ratio = median(results.meshed) / median(results.plain);
    const cpuPlain = median(cpu.plain);
    const cpuMeshed = median(cpu.meshed);
    const spread = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
    const markdown = [
      '### gRPC: meshwork/grpc against a plain grpc-js channel',
      '',
      `One grpc-js server in a child process, one unary method answering at once; ${IN_FLIGHT} calls in flight; ${rounds} interleaved rounds of ${ms / 1000} s; medians.`,
      `CPU: the client process's user + system time over ${calls.toLocaleString('en-US')} calls, ${rounds} interleaved rounds; median (spread).`,
      '',
      '| client | calls/s | ratio | p99 ms | CPU µs per call | CPU ratio | target |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      `| plain grpc-js channel | ${Math.round(median(results.plain)).toLocaleString('en-US')} | 1.000× | ${median(results.plainP99).toFixed(2)} | ${cpuPlain.toFixed(1)} (${spread(cpu.plain)}) | 1.000× | baseline |`,
      `| grpcClient(mesh, …): resolver, P2C peak-EWMA, policy interceptor | ${Math.round(median(results.meshed)).toLocaleString('en-US')} | **${ratio.toFixed(3)}×** | ${median(results.meshedP99).toFixed(2)} | ${cpuMeshed.toFixed(1)} (${spread(cpu.meshed)}) | ${(cpuMeshed / cpuPlain).toFixed(3)}× | ${ratio >= TARGET ? 'met' : '**NOT met**'} (≥ ${TARGET}×) |`,
    ].join('\n');
    return { name: 'grpc-overhead', markdown };
  } finally {
    plain.close();
    meshed.close();
    await mesh.close();
    backend.stop();
  }
}

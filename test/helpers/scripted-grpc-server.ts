/**
 * A real grpc-js server whose one unary method (`/test.Scripted/Echo`, raw bytes) answers as a
 * script says, call by call: OK with the server's name, a status, or nothing at all until the
 * caller cancels ('hang'). Each arrival is recorded, and each cancelled call too, so tests of the
 * gRPC policy can say what reached which server. `booksMesh` puts a grpcClient in front of them.
 */
import * as grpc from '@grpc/grpc-js';
import { createMesh, ManualClock, type Mesh, type MeshClientOptions } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { metricValue } from './sidecar-process.js';

const identity = (b: Buffer) => b;
export const scriptedService: grpc.ServiceDefinition = {
  echo: { path: '/test.Scripted/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
export const ScriptedClient = grpc.makeGenericClientConstructor(scriptedService, 'Scripted');
export type ScriptedStub = grpc.Client & {
  echo(req: Buffer, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
};

export type Answer = 'ok' | 'hang' | grpc.status;

export interface ScriptedServer {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** What the next calls get, in order; `otherwise` once it is empty. */
  script: Answer[];
  otherwise: Answer;
  /** Calls that arrived, and calls the client cancelled while they hung. */
  arrivals: number;
  cancelled: number;
  /** Called on each arrival, after it is counted. */
  onArrival: (() => void) | undefined;
  close(): void;
}

export async function startScriptedServer(name: string, otherwise: Answer = 'ok'): Promise<ScriptedServer> {
  const server = new grpc.Server();
  const state: ScriptedServer = {
    name,
    port: 0,
    address: '',
    script: [],
    otherwise,
    arrivals: 0,
    cancelled: 0,
    onArrival: undefined,
    close: () => server.forceShutdown(),
  };
  server.addService(scriptedService, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      state.arrivals++;
      const answer = state.script.length > 0 ? state.script.shift()! : state.otherwise;
      state.onArrival?.();
      if (answer === 'hang') call.on('cancelled', () => state.cancelled++);
      else if (answer === 'ok') callback(null, Buffer.from(name));
      else callback({ code: answer, details: `${name}: scripted ${grpc.status[answer]}` });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return Object.assign(state, { port, address: `127.0.0.1:${port}` });
}

export interface Outcome {
  err: grpc.ServiceError | null;
  /** The answering server's name, on success. */
  res?: string;
}

/** One call; with a ManualClock, the clock is moved on `stepMs` at a time until the call ends (backoffs, per-try timeouts). */
export async function callOnce(client: ScriptedStub, options: { clock?: ManualClock; stepMs?: number; call?: grpc.CallOptions } = {}): Promise<Outcome> {
  let outcome: Outcome | undefined;
  const done = new Promise<Outcome>((resolve) =>
    client.echo(Buffer.from('x'), new grpc.Metadata(), options.call ?? {}, (err, res) => resolve((outcome = { err, ...(res ? { res: res.toString() } : {}) }))),
  );
  while (options.clock !== undefined && outcome === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    options.clock.advance(options.stepMs ?? 1);
  }
  return done;
}

export interface BooksMesh {
  mesh: Mesh;
  clock: ManualClock;
  /** A grpcClient of the mesh's service `books`. */
  books: ScriptedStub;
  /** A metric of `books` from the mesh's registry (summed over the series that match `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** A mesh on a ManualClock whose one service, `books`, has these options, and a grpcClient of it. */
export function booksMesh(service: MeshClientOptions, clock = new ManualClock()): BooksMesh {
  const mesh = createMesh({ services: { books: service }, clock });
  const books = grpcClient(mesh, ScriptedClient, 'books') as unknown as ScriptedStub;
  return { mesh, clock, books, metric: async (name, labels = {}) => metricValue(await mesh.registry.metrics(), name, { authority: 'books', ...labels }) };
}

/**
 * `grpcClient(mesh, Ctor, service)`: a grpc-js client on the mesh's discovery, balancer, retries and
 * metrics, against three real grpc-js servers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, type Mesh } from '../../src/index.js';
import { grpcClient } from '../../src/grpc/index.js';
import { streamingHandlers, streamingMethods } from '../helpers/grpc-streaming.js';
import { metricValue } from '../helpers/sidecar-process.js';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  greet: { path: '/demo.Greeter/Greet', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  ponder: { path: '/demo.Greeter/Ponder', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  stumble: { path: '/demo.Greeter/Stumble', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  ...streamingMethods('demo.Greeter'),
};
const GreeterClient = grpc.makeGenericClientConstructor(service, 'Greeter');
type Greeter = grpc.Client &
  Record<'greet' | 'ponder' | 'stumble', (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void> & {
    count: (req: Buffer) => grpc.ClientReadableStream<Buffer>;
    sum: (cb: (err: grpc.ServiceError | null, res: Buffer) => void) => grpc.ClientWritableStream<Buffer>;
    chat: () => grpc.ClientDuplexStream<Buffer, Buffer>;
  };
const traceparents: string[] = [];

const servers: grpc.Server[] = [];
const ports: number[] = [];
const failNext = { count: 0, code: grpc.status.UNAVAILABLE };
let served = 0;
let stumbles = 0;
let mesh: Mesh;
const exporter = new InMemorySpanExporter();

before(async () => {
  for (const name of ['one', 'two', 'three']) {
    const server = new grpc.Server();
    server.addService(service, {
      greet: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        if (failNext.count > 0) {
          failNext.count--;
          return callback({ code: failNext.code, details: 'overloaded' });
        }
        served++;
        const traceparent = call.metadata.get('traceparent')[0];
        if (typeof traceparent === 'string') traceparents.push(traceparent);
        callback(null, Buffer.from(`hello ${call.request.toString()} from ${name}`));
      },
      ponder: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => setTimeout(() => callback(null, Buffer.from('done')), 2_000),
      // Fails as retryable, but only after 120 ms.
      stumble: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
        stumbles++;
        setTimeout(() => callback({ code: grpc.status.UNAVAILABLE, details: 'stumbled' }), 120);
      },
      ...streamingHandlers,
    });
    ports.push(await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))));
    servers.push(server);
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  const endpoints = ports.map((p) => `127.0.0.1:${p}`);
  mesh = createMesh({
    services: {
      // No timeout: a test's first call also waits for its new channel to connect, which a loaded machine can make slow.
      greeter: { endpoints, retries: { backoff: { base: 1, max: 2 } } },
      'greeter-timed': { endpoints, retries: { backoff: { base: 1, max: 2 } }, timeout: '300ms' },
      'greeter-codes': { endpoints, retries: { backoff: { base: 1, max: 2 }, grpcStatusCodes: ['RESOURCE_EXHAUSTED'] } },
      'greeter-chaos': { endpoints, faults: [{ abort: { percent: 100, httpStatus: 503, grpcStatus: 'RESOURCE_EXHAUSTED' } }] },
    },
  });
});

after(async () => {
  for (const server of servers) server.forceShutdown();
  await mesh?.close();
});

const greet = (client: Greeter, name: string) =>
  new Promise<string>((resolve, reject) => client.greet(Buffer.from(name), (err, res) => (err ? reject(err) : resolve(res.toString()))));

test('calls are spread over every endpoint the mesh knows, and counted with grpc_status', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter') as unknown as Greeter;
  try {
    const from = new Set<string>();
    for (let i = 0; i < 60; i++) from.add((await greet(client, 'ada')).split(' from ')[1]!);
    assert.deepEqual([...from].sort(), ['one', 'three', 'two']);
    const text = await mesh.registry.metrics();
    assert.equal(metricValue(text, 'request_total', { authority: 'greeter', route: '/demo.Greeter/Greet' }), 60);
    assert.equal(metricValue(text, 'response_total', { authority: 'greeter', grpc_status: '0', classification: 'success' }), 60);
  } finally {
    client.close();
  }
});

test('UNAVAILABLE is retried within the budget: the caller sees success, the metrics see the retries', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter') as unknown as Greeter;
  try {
    const before = metricValue(await mesh.registry.metrics(), 'meshwork_retries_total', { authority: 'greeter' });
    failNext.count = 2;
    assert.match(await greet(client, 'grace'), /^hello grace from /);
    const after = metricValue(await mesh.registry.metrics(), 'meshwork_retries_total', { authority: 'greeter' });
    assert.equal(after - before, 2);
  } finally {
    client.close();
  }
});

test('a call counts once in the golden metrics, with the status its caller got, however many attempts it took', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter') as unknown as Greeter;
  try {
    const labels = { authority: 'greeter', route: '/demo.Greeter/Greet' };
    const before = await mesh.registry.metrics();
    failNext.count = 2;
    assert.match(await greet(client, 'once'), /^hello once/);
    const after = await mesh.registry.metrics();
    const delta = (name: string, more: Record<string, string> = {}) => metricValue(after, name, { ...labels, ...more }) - metricValue(before, name, { ...labels, ...more });
    assert.equal(delta('request_total'), 1);
    assert.equal(delta('response_total', { grpc_status: '0' }), 1);
    assert.equal(delta('response_total', { grpc_status: '14' }), 0, 'the retried attempts are not responses the caller got');
    assert.equal(delta('response_latency_ms_count'), 1);
  } finally {
    client.close();
  }
});

test('the service\'s timeout is the deadline of the whole call: every retry runs within it', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter-timed') as unknown as Greeter;
  try {
    stumbles = 0;
    // Each attempt fails after 120 ms and 4 are allowed: with a deadline per attempt the caller would get UNAVAILABLE after 480 ms.
    const err = await new Promise<grpc.ServiceError>((resolve) => client.stumble(Buffer.from(''), (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(stumbles < 4, `the deadline ended the call after ${stumbles} attempts`);
  } finally {
    client.close();
  }
});

test('a call without a deadline gets the service\'s timeout and ends as DEADLINE_EXCEEDED', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter-timed') as unknown as Greeter;
  try {
    const started = Date.now();
    const err = await new Promise<grpc.ServiceError>((resolve) => client.ponder(Buffer.from(''), (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 1_500);
  } finally {
    client.close();
  }
});

test('inside an active span, a call gets a child span whose context reaches the server', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter') as unknown as Greeter;
  try {
    exporter.reset();
    traceparents.length = 0;
    const parent = trace.getTracer('app').startSpan('handler');
    await context.with(trace.setSpan(context.active(), parent), () => greet(client, 'traced'));
    parent.end();
    const span = exporter.getFinishedSpans().find((s) => s.name === 'grpc /demo.Greeter/Greet')!;
    assert.ok(span, 'a span for the call');
    assert.equal(span.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(traceparents.length, 1);
    assert.equal(traceparents[0]!.split('-')[1], parent.spanContext().traceId);
    assert.equal(traceparents[0]!.split('-')[2], span.spanContext().spanId);
  } finally {
    client.close();
  }
});

test('an injected abort fails the call with the configured gRPC status, never reaching a server, never retried', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter-chaos') as unknown as Greeter;
  try {
    const before = served;
    const err = await new Promise<grpc.ServiceError>((resolve) => client.greet(Buffer.from('x'), (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /fault injected/);
    assert.equal(served, before);
    const text = await mesh.registry.metrics();
    assert.equal(metricValue(text, 'meshwork_faults_aborted_total', { authority: 'greeter-chaos' }), 1);
    assert.equal(metricValue(text, 'meshwork_retries_total', { authority: 'greeter-chaos' }), 0);
  } finally {
    client.close();
  }
});

test('the retried statuses are configurable (retries.grpcStatusCodes); others go back at once', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter-codes') as unknown as Greeter;
  try {
    failNext.code = grpc.status.RESOURCE_EXHAUSTED;
    failNext.count = 1;
    assert.match(await greet(client, 'codes'), /^hello codes/);
    failNext.code = grpc.status.UNAVAILABLE;
    failNext.count = 1;
    await assert.rejects(greet(client, 'codes'), { code: grpc.status.UNAVAILABLE });
  } finally {
    failNext.count = 0;
    failNext.code = grpc.status.UNAVAILABLE;
    client.close();
  }
});

test('server, client and bidirectional streaming calls flow through grpcClient (and are never retried)', async () => {
  const client = grpcClient(mesh, GreeterClient, 'greeter') as unknown as Greeter;
  try {
    const counted = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      const call = client.count(Buffer.from('5'));
      call.on('data', (m: Buffer) => got.push(m.toString()));
      call.on('error', reject);
      call.on('end', () => resolve(got));
    });
    assert.deepEqual(counted, ['1', '2', '3', '4', '5']);
    const total = await new Promise<string>((resolve, reject) => {
      const call = client.sum((err, res) => (err ? reject(err) : resolve(res.toString())));
      for (const n of [1, 2, 3, 4]) call.write(Buffer.from(String(n)));
      call.end();
    });
    assert.equal(total, '10');
    const replies = await new Promise<string[]>((resolve, reject) => {
      const call = client.chat();
      const got: string[] = [];
      call.on('data', (m: Buffer) => {
        got.push(m.toString());
        if (got.length < 3) call.write(Buffer.from(`m${got.length + 1}`));
        else call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve(got));
      call.write(Buffer.from('m1'));
    });
    assert.deepEqual(replies, ['re: m1', 're: m2', 're: m3']);
  } finally {
    client.close();
  }
});

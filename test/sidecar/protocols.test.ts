/**
 * What crosses the sidecar besides plain HTTP/1.1: gRPC (grpc-js client and server, trailers and
 * status intact, streaming), WebSocket upgrades, and the trace context (W3C and B3).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { WebSocket, WebSocketServer } from 'ws';
import { streamingHandlers, streamingMethods } from '../helpers/grpc-streaming.js';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { metricValue, startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const run = promisify(execFile);

// A gRPC service with raw-bytes messages, so the test needs no .proto file.
const identity = (b: Buffer) => b;
const echoService: grpc.ServiceDefinition = {
  echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  ...streamingMethods('test.Echo'),
  slow: { path: '/test.Echo/Slow', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

let grpcServer: grpc.Server;
let flakyFailures = 0;
let grpcPort = 0;
let wsServer: WebSocketServer;
let words: TestBackend;
let sidecar: SidecarProcess;
// A second sidecar in front of the gRPC server, as in a mesh: client → outbound → inbound → app.
let grpcAppSidecar: SidecarProcess;

before(async () => {
  grpcServer = new grpc.Server();
  grpcServer.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      if (text === 'fail') return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail' });
      if (text === 'flaky' && flakyFailures > 0) {
        flakyFailures--;
        return callback({ code: grpc.status.UNAVAILABLE, details: 'overloaded' });
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-echo-trailer', 'kept');
      callback(null, Buffer.from(`echo: ${text} (authority ${call.getPath()})`), trailer);
    },
    ...streamingHandlers,
    slow: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      setTimeout(() => callback(null, Buffer.from('late')), 2_000);
    },
  });
  grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));

  wsServer = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wsServer.on('connection', (socket, req) => {
    socket.send(`hello ${req.headers.host} via ${req.headers['x-forwarded-for']}`);
    socket.on('message', (data) => socket.send(`echo ${data.toString()}`));
  });
  await new Promise<void>((resolve) => wsServer.once('listening', resolve));
  words = await startBackend('words');

  grpcAppSidecar = await startSidecarProcess('apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services: {}\n', ['--outbound', 'none', '--inbound', '127.0.0.1:0', '--app', `127.0.0.1:${grpcPort}`]);
  sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    echo:
      endpoints: ["127.0.0.1:${grpcPort}"]
    echo-meshed:
      endpoints: ["${grpcAppSidecar.inbound}"]
    echo-retry:
      endpoints: ["127.0.0.1:${grpcPort}"]
      retries: { backoff: { base: 1ms, max: 5ms } }
      routes:
        # Unary methods are marked retryable; a streaming method never should be.
        - { name: Echo, condition: { method: POST, pathRegex: /test\\.Echo/Echo }, isRetryable: true }
    echo-chaos:
      endpoints: ["127.0.0.1:${grpcPort}"]
      faults: [{ abort: { percent: 100, httpStatus: 503, grpcStatus: UNAVAILABLE } }]
    chat:
      endpoints: ["127.0.0.1:${(wsServer.address() as AddressInfo).port}"]
    words:
      endpoints: ["${words.address}"]
`);
});

after(async () => {
  await sidecar?.stop();
  await grpcAppSidecar?.stop();
  grpcServer?.forceShutdown();
  wsServer?.close();
  await words?.stop();
});

type EchoStub = grpc.Client & Record<'echo' | 'count' | 'sum' | 'chat' | 'slow', (...args: unknown[]) => unknown>;

function echoClient(service = 'echo'): EchoStub {
  // The channel connects to the sidecar; :authority names the service, as with Host for HTTP/1.1.
  return new EchoClient(sidecar.outbound, grpc.credentials.createInsecure(), { 'grpc.default_authority': service }) as never;
}

test('a unary gRPC call through the sidecar keeps its response, trailers and status', async () => {
  const client = echoClient();
  try {
    const { reply, trailers } = await new Promise<{ reply: Buffer; trailers: grpc.Metadata }>((resolve, reject) => {
      let trailers: grpc.Metadata | undefined;
      const call = client.echo(Buffer.from('hi'), (err: grpc.ServiceError | null, reply: Buffer) => (err ? reject(err) : setImmediate(() => resolve({ reply, trailers: trailers! })))) as grpc.ClientUnaryCall;
      call.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
    });
    assert.equal(reply.toString(), 'echo: hi (authority /test.Echo/Echo)');
    assert.deepEqual(trailers.get('x-echo-trailer'), ['kept']);

    const failure = await new Promise<grpc.ServiceError>((resolve) => client.echo(Buffer.from('fail'), (err: grpc.ServiceError) => resolve(err)));
    assert.equal(failure.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(failure.details, 'asked to fail');

    const metrics = await sidecar.metrics();
    // grpc-status decides the classification, as Linkerd does: one success, one failure.
    assert.equal(metricValue(metrics, 'response_total', { authority: 'echo', classification: 'success' }), 1);
    assert.equal(metricValue(metrics, 'response_total', { authority: 'echo', classification: 'failure' }), 1);
  } finally {
    client.close();
  }
});

test('a server-streaming gRPC call streams every message through', async () => {
  const client = echoClient();
  try {
    const messages = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      const call = client.count(Buffer.from('25')) as grpc.ClientReadableStream<Buffer>;
      call.on('data', (m: Buffer) => got.push(m.toString()));
      call.on('error', reject);
      call.on('end', () => resolve(got));
    });
    assert.deepEqual(messages, Array.from({ length: 25 }, (_, i) => String(i + 1)));
  } finally {
    client.close();
  }
});

test('a unary gRPC call on a retryable route is retried on UNAVAILABLE by the sidecar', async () => {
  const retrying = echoClient('echo-retry');
  const plain = echoClient('echo');
  try {
    flakyFailures = 2;
    const reply = await new Promise<string>((resolve, reject) => retrying.echo(Buffer.from('flaky'), (err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r.toString()))));
    assert.match(reply, /^echo: flaky/);
    assert.equal(flakyFailures, 0);
    assert.equal(metricValue(await sidecar.metrics(), 'meshwork_retries_total', { authority: 'echo-retry' }), 2);
    // Without a retryable route, the same failure goes back to the caller.
    flakyFailures = 1;
    const err = await new Promise<grpc.ServiceError>((resolve) => plain.echo(Buffer.from('flaky'), (e: grpc.ServiceError) => resolve(e)));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
  } finally {
    flakyFailures = 0;
    retrying.close();
    plain.close();
  }
});

test('an injected abort reaches a gRPC caller as a gRPC status', async () => {
  const client = echoClient('echo-chaos');
  try {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.echo(Buffer.from('x'), (e: grpc.ServiceError) => resolve(e)));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /fault injected/);
  } finally {
    client.close();
  }
});

test('client streaming and bidirectional streaming flow through the sidecar, message by message', async () => {
  const client = echoClient('echo-meshed');
  try {
    const total = await new Promise<string>((resolve, reject) => {
      const call = client.sum((err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r.toString()))) as grpc.ClientWritableStream<Buffer>;
      for (let i = 1; i <= 100; i++) call.write(Buffer.from(String(i)));
      call.end();
    });
    assert.equal(total, '5050');

    const replies = await new Promise<string[]>((resolve, reject) => {
      const call = client.chat() as grpc.ClientDuplexStream<Buffer, Buffer>;
      const got: string[] = [];
      let next = 1;
      call.on('data', (m: Buffer) => {
        got.push(m.toString());
        if (next <= 5) call.write(Buffer.from(`m${next++}`));
        else call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve(got));
      call.write(Buffer.from(`m${next++}`));
    });
    assert.deepEqual(replies, ['re: m1', 're: m2', 're: m3', 're: m4', 're: m5']);
  } finally {
    client.close();
  }
});

test('gRPC crosses two sidecars (outbound, then the server\'s inbound) with status intact', async () => {
  const client = echoClient('echo-meshed');
  const before = await grpcAppSidecar.metrics();
  const count = (text: string, labels: Record<string, string>) => metricValue(text, 'request_total', labels);
  // A gRPC failure is an HTTP 200 whose grpc-status says otherwise (an abandoned call has no status code).
  const failures = (text: string) => metricValue(text, 'response_total', { direction: 'inbound', classification: 'failure', status_code: '200' });
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => client.echo(Buffer.from('two hops'), (err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r))));
    assert.equal(reply.toString(), 'echo: two hops (authority /test.Echo/Echo)');
    const failure = await new Promise<grpc.ServiceError>((resolve) => client.echo(Buffer.from('fail'), (err: grpc.ServiceError) => resolve(err)));
    assert.equal(failure.code, grpc.status.FAILED_PRECONDITION);
    const inbound = await grpcAppSidecar.metrics();
    const labels = { direction: 'inbound', authority: 'echo-meshed' };
    assert.equal(count(inbound, labels) - count(before, labels), 2);
    assert.equal(failures(inbound) - failures(before), 1);
  } finally {
    client.close();
  }
});

test('a WebSocket upgrade is passed through to the service, both ways', async () => {
  const socket = new WebSocket(`ws://${sidecar.outbound}/chat`, { headers: { host: 'chat' } });
  const received: string[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      received.push(data.toString());
      if (received.length === 1) socket.send('ping');
      else resolve();
    });
    socket.once('error', reject);
  });
  socket.close();
  assert.equal(received[0], 'hello chat via 127.0.0.1');
  assert.equal(received[1], 'echo ping');
});

test('an incoming W3C traceparent continues: same trace id, the sidecar\'s span as parent', async () => {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const { stdout } = await run('curl', ['-sS', '-H', 'Host: words', '-H', `traceparent: 00-${traceId}-b7ad6b7169203331-01`, `http://${sidecar.outbound}/traced`], { encoding: 'utf8' });
  const headers = (JSON.parse(stdout) as { headers: Record<string, string> }).headers;
  const [version, trace, parent, flags] = headers.traceparent!.split('-');
  assert.equal(version, '00');
  assert.equal(trace, traceId);
  assert.notEqual(parent, 'b7ad6b7169203331', 'the next hop sees the sidecar\'s attempt span as its parent');
  assert.match(parent!, /^[0-9a-f]{16}$/);
  assert.equal(flags, '01');
  assert.equal(headers['x-b3-traceid'], traceId);
});

test('an incoming B3 trace continues too, and is also sent on as traceparent', async () => {
  const traceId = '463ac35c9f6413ad48485a3953bb6124';
  const { stdout } = await run('curl', ['-sS', '-H', 'Host: words', '-H', `X-B3-TraceId: ${traceId}`, '-H', 'X-B3-SpanId: a2fb4a1d1a96d312', '-H', 'X-B3-Sampled: 1', `http://${sidecar.outbound}/b3`], { encoding: 'utf8' });
  const headers = (JSON.parse(stdout) as { headers: Record<string, string> }).headers;
  assert.equal(headers['x-b3-traceid'], traceId);
  assert.notEqual(headers['x-b3-spanid'], 'a2fb4a1d1a96d312');
  assert.equal(headers.traceparent?.split('-')[1], traceId);
});

test('a non-Node gRPC client (curl, HTTP/2, a hand-made frame) gets the reply and grpc-status trailers', async () => {
  // A gRPC message on the wire: a 0 (uncompressed) flag byte, a 4-byte big-endian length, the bytes.
  const { stdout, stderr } = await run(
    'bash',
    ['-c', `printf '\\x00\\x00\\x00\\x00\\x04curl' | curl -sS -v --http2-prior-knowledge -H 'Host: echo' -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- http://${sidecar.outbound}/test.Echo/Echo`],
    { encoding: 'latin1' },
  );
  assert.match(stdout, /echo: curl \(authority \/test\.Echo\/Echo\)/);
  assert.match(stderr, /grpc-status: 0/);
});

// Last: the abandoned call is still settling in the sidecars' metrics after the test ends.
test('a gRPC deadline crosses the sidecars and ends as DEADLINE_EXCEEDED', async () => {
  const client = echoClient('echo-meshed');
  try {
    const started = Date.now();
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.slow(Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 300 }, (e: grpc.ServiceError) => resolve(e)),
    );
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 1_500, 'the caller was not held until the server answered');
  } finally {
    client.close();
  }
});

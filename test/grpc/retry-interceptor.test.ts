/** The gRPC retry interceptor against a real grpc-js server that fails on purpose. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RETRY_DEFAULTS } from '../../src/core/policy.js';
import { grpcRetryInterceptor } from '../../src/grpc/index.js';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  echo: { path: '/test.Flaky/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const Client = grpc.makeGenericClientConstructor(service, 'Flaky');
type Stub = grpc.Client & { echo: (req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void };

let server: grpc.Server;
let port = 0;
let script: grpc.status[] = [];
let calls = 0;
const seen: string[] = [];

before(async () => {
  server = new grpc.Server();
  server.addService(service, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      calls++;
      seen.push(call.request.toString());
      const code = script.shift() ?? grpc.status.OK;
      if (code === grpc.status.OK) callback(null, Buffer.from(`ok ${call.request.toString()}`));
      else callback({ code, details: `scripted ${grpc.status[code]}` });
    },
  });
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
});
after(() => server.forceShutdown());

function client(options: Parameters<typeof grpcRetryInterceptor>[0]): Stub {
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { interceptors: [grpcRetryInterceptor(options)] }) as unknown as Stub;
}
const call = (stub: Stub, text: string) =>
  new Promise<{ err: grpc.ServiceError | null; res?: string }>((resolve) => stub.echo(Buffer.from(text), (err, res) => resolve({ err, ...(res ? { res: res.toString() } : {}) })));

test('UNAVAILABLE is retried with the same request, and the caller sees only the success', async () => {
  const events: string[] = [];
  const stub = client({ backoff: { baseMs: 1, maxMs: 2 }, onEvent: (e) => events.push(e) });
  try {
    script = [grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE];
    calls = 0;
    seen.length = 0;
    const { err, res } = await call(stub, 'hello');
    assert.equal(err, null);
    assert.equal(res, 'ok hello');
    assert.equal(calls, 3);
    assert.deepEqual(seen, ['hello', 'hello', 'hello']);
    assert.deepEqual(events, ['retries_total', 'retries_total']);
  } finally {
    stub.close();
  }
});

test('a status that is not retryable is returned at once', async () => {
  const stub = client({ backoff: { baseMs: 1, maxMs: 2 } });
  try {
    script = [grpc.status.INVALID_ARGUMENT];
    calls = 0;
    const { err } = await call(stub, 'bad');
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(calls, 1);
  } finally {
    stub.close();
  }
});

test('by default a call gets as many attempts as an HTTP request (RETRY_DEFAULTS.maxAttempts)', async () => {
  const stub = client({ backoff: { baseMs: 1, maxMs: 2 } });
  try {
    script = Array.from({ length: RETRY_DEFAULTS.maxAttempts + 2 }, () => grpc.status.UNAVAILABLE);
    calls = 0;
    assert.equal((await call(stub, 'x')).err?.code, grpc.status.UNAVAILABLE);
    assert.equal(calls, RETRY_DEFAULTS.maxAttempts);
    assert.equal(RETRY_DEFAULTS.maxAttempts, 4, 'the documented default');
  } finally {
    script = [];
    stub.close();
  }
});

test('attempts are capped, and an empty budget stops retries', async () => {
  const capped = client({ maxAttempts: 2, backoff: { baseMs: 1, maxMs: 2 } });
  const events: string[] = [];
  const broke = client({ budget: { retryRatio: 0, minRetriesPerSecond: 0 }, onEvent: (e) => events.push(e) });
  try {
    script = [grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE];
    calls = 0;
    assert.equal((await call(capped, 'x')).err?.code, grpc.status.UNAVAILABLE);
    assert.equal(calls, 2);
    script = [grpc.status.UNAVAILABLE];
    calls = 0;
    assert.equal((await call(broke, 'y')).err?.code, grpc.status.UNAVAILABLE);
    assert.equal(calls, 1);
    assert.deepEqual(events, ['retry_budget_exhausted_total']);
  } finally {
    capped.close();
    broke.close();
  }
});

test('retries live within the call\'s deadline: past it the caller gets DEADLINE_EXCEEDED', async () => {
  // Full jitter draws each wait from [0, 300 ms]; the top of the range keeps this test deterministic.
  const stub = client({ maxAttempts: 5, backoff: { baseMs: 300, maxMs: 300 }, random: () => 0.999 });
  try {
    script = [grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE];
    calls = 0;
    const started = Date.now();
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      (stub as unknown as { echo: (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError) => void) => void }).echo(Buffer.from('z'), new grpc.Metadata(), { deadline: Date.now() + 150 }, (e) => resolve(e)),
    );
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(calls, 1, 'the retry was due after the deadline, so it never reached the server');
  } finally {
    script = [];
    stub.close();
  }
});

/**
 * gRPC carried by the HTTP stack (the sidecar's h2c path): a trailers-only reply is retried when
 * its status is one of `retries.grpcStatusCodes`, the same setting grpcClient reads. A real grpc-js
 * server answers with scripted statuses; the request is a hand-framed unary call over h2c.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { meshClient, type MeshClient, type MeshClientOptions } from '../../src/index.js';
import { withClient } from '../helpers/with-client.js';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  echo: { path: '/test.Flaky/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

let server: grpc.Server;
let address = '';
let script: grpc.status[] = [];
let calls = 0;

before(async () => {
  server = new grpc.Server();
  server.addService(service, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      calls++;
      const code = script.shift() ?? grpc.status.OK;
      if (code === grpc.status.OK) callback(null, Buffer.from(`ok ${call.request.toString()}`));
      else callback({ code, details: `scripted ${grpc.status[code]}` });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
});
after(() => server.forceShutdown());

function flaky(retries: NonNullable<MeshClientOptions['retries']>): MeshClient {
  return meshClient('flaky', {
    endpoints: [address],
    routes: [{ name: 'Echo', condition: { method: 'POST', pathRegex: '/test\\.Flaky/Echo' }, isRetryable: true }],
    retries,
    circuitBreaker: false,
    outlierDetection: false,
  });
}

/** One unary call as the sidecar forwards it: h2c, a length-prefixed message; the status as the reply's headers or trailers give it. */
async function echo(client: MeshClient, text: string): Promise<{ status: string; trailersOnly: boolean }> {
  const message = Buffer.from(text);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
  const res = await client.request({
    method: 'POST',
    path: '/test.Flaky/Echo',
    protocol: 'h2c',
    headers: { 'content-type': 'application/grpc', te: 'trailers' },
    body: frame,
  });
  const inHeaders = res.headers['grpc-status'];
  await res.body.dump();
  const trailers = res.trailers as Record<string, string | undefined>;
  return { status: String(inHeaders ?? trailers['grpc-status']), trailersOnly: inHeaders !== undefined };
}

test('a trailers-only status listed in grpcStatusCodes is retried; an unlisted one goes back at once', async () => {
  await withClient(flaky({ backoff: { base: 1, max: 1 }, grpcStatusCodes: ['RESOURCE_EXHAUSTED'] }), async (client) => {
    script = [grpc.status.RESOURCE_EXHAUSTED];
    calls = 0;
    assert.deepEqual(await echo(client, 'hi'), { status: '0', trailersOnly: false });
    assert.equal(calls, 2);
    assert.equal(client.counters().retries_total, 1);

    script = [grpc.status.UNAVAILABLE];
    calls = 0;
    assert.deepEqual(await echo(client, 'hi'), { status: String(grpc.status.UNAVAILABLE), trailersOnly: true });
    assert.equal(calls, 1, 'UNAVAILABLE is not in this service\'s list');
  });
});

test('by default UNAVAILABLE is the retried status', async () => {
  await withClient(flaky({ backoff: { base: 1, max: 1 } }), async (client) => {
    script = [grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE];
    calls = 0;
    assert.equal((await echo(client, 'hi')).status, '0');
    assert.equal(calls, 3);
    script = [grpc.status.RESOURCE_EXHAUSTED];
    calls = 0;
    assert.equal((await echo(client, 'hi')).status, String(grpc.status.RESOURCE_EXHAUSTED));
    assert.equal(calls, 1);
  });
});

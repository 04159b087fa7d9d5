/**
 * The policy interceptor's call (src/grpc/policy-call.ts) against a real grpc-js server that fails
 * on purpose: the order its steps run in, and what a caller sees when it cancels, when the deadline
 * comes during a wait, and when an attempt is retried. Waits run on a ManualClock, so a test decides
 * when a backoff or an injected delay is over.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ManualClock } from '../../src/core/clock.js';
import { RetryBudget } from '../../src/policy/retry-budget.js';
import type { GrpcCallStep } from '../../src/grpc/grpc-call-step.js';
import { grpcFaultInterceptor, grpcRetryInterceptor, type GrpcRetryOptions } from '../../src/grpc/index.js';
import { stepsInterceptor } from '../../src/grpc/policy-interceptor.js';
import { retryStep } from '../../src/grpc/steps/retry-step.js';
import { EventQueue } from '../helpers/event-queue.js';
import { streamingHandlers, streamingMethods } from '../helpers/grpc-streaming.js';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  echo: { path: '/test.Flaky/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  ...streamingMethods('test.Flaky'),
};
const Client = grpc.makeGenericClientConstructor(service, 'Flaky');
type Stub = grpc.Client & {
  echo(req: Buffer, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  count(req: Buffer): grpc.ClientReadableStream<Buffer>;
  sum(cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientWritableStream<Buffer>;
};

let server: grpc.Server;
let port = 0;
/** What the next calls answer, in order; OK once it is empty. */
let script: grpc.status[] = [];
const arrivals = new EventQueue<number>();

before(async () => {
  server = new grpc.Server();
  server.addService(service, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const attempt = arrivals.all.length + 1;
      arrivals.push(attempt);
      // Response headers that say which attempt answered.
      const headers = new grpc.Metadata();
      headers.set('attempt', String(attempt));
      call.sendMetadata(headers);
      const code = script.shift() ?? grpc.status.OK;
      if (code === grpc.status.OK) callback(null, Buffer.from(`ok ${call.request.toString()}`));
      else callback({ code, details: `scripted ${grpc.status[code]}` });
    },
    ...streamingHandlers,
  });
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
});
after(() => server.forceShutdown());

/** Runs `body` with a client whose calls go through `interceptor`, and closes the client after. */
async function withStub(interceptor: grpc.Interceptor, body: (client: Stub) => Promise<void>): Promise<void> {
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { interceptors: [interceptor] }) as unknown as Stub;
  try {
    await body(client);
  } finally {
    client.close();
  }
}

/** Every call delayed by `ms` on `clock`. */
const delayAll = (clock: ManualClock, ms: number) => grpcFaultInterceptor([{ delay: { percent: 100, fixedDelayMs: ms } }], { clock, random: () => 0 });

interface Outcome {
  err: grpc.ServiceError | null;
  res?: string;
}

interface StartedCall {
  call: grpc.ClientUnaryCall;
  done: Promise<Outcome>;
  /** Undefined until the callback has run. */
  outcome(): Outcome | undefined;
  /** The `attempt` response header of each 'metadata' event the caller got. */
  headers: string[];
}

function start(client: Stub, text: string, options: grpc.CallOptions = {}): StartedCall {
  let outcome: Outcome | undefined;
  const headers: string[] = [];
  let resolve!: (outcome: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  const call = client.echo(Buffer.from(text), new grpc.Metadata(), options, (err, res) => {
    outcome = { err, ...(res ? { res: res.toString() } : {}) };
    resolve(outcome);
  });
  call.on('metadata', (metadata: grpc.Metadata) => headers.push(String(metadata.get('attempt')[0])));
  return { call, done, outcome: () => outcome, headers };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

function reset(statuses: grpc.status[]): void {
  script = statuses;
  arrivals.all.length = 0;
  arrivals.drain();
}

/** Retries after a backoff of just under 100 ms on `clock`; each retry decision is pushed to `events`. */
function retryOptions(clock: ManualClock, events: EventQueue<string>, options: GrpcRetryOptions = {}): GrpcRetryOptions {
  return { clock, random: () => 0.999, backoff: { baseMs: 100, maxMs: 100 }, onEvent: events.push, ...options };
}

test('the steps run in order: started top-down, attempting per attempt, attemptEnded and ended innermost first', async () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const recorder = (name: string): GrpcCallStep => ({
    role: name,
    started: () => (seen.push(`${name}.started`), true),
    attempting: (call) => (seen.push(`${name}.attempting#${call.attempts + 1}`), true),
    attemptEnded: (_call, status) => (seen.push(`${name}.attemptEnded:${status.code}`), false),
    ended: (_call, status) => void seen.push(`${name}.ended:${status.code}`),
  });
  const events = new EventQueue<string>();
  await withStub(stepsInterceptor([recorder('outer'), retryStep(retryOptions(clock, events)), recorder('inner')]), async (client) => {
    reset([grpc.status.UNAVAILABLE]);
    const call = start(client, 'order');
    await events.next('a retry');
    clock.advance(100);
    assert.equal((await call.done).res, 'ok order');
    assert.deepEqual(seen, [
      'outer.started',
      'inner.started',
      'outer.attempting#1',
      'inner.attempting#1',
      'inner.attemptEnded:14',
      // The retry step took charge of the failed attempt: the steps above it never saw it.
      'outer.attempting#2',
      'inner.attempting#2',
      'inner.attemptEnded:0',
      'outer.attemptEnded:0',
      'inner.ended:0',
      'outer.ended:0',
    ]);
  });
});

test('a step that refuses an attempt ends the call with its status; nothing reaches the server', async () => {
  const refusing: GrpcCallStep = {
    role: 'refuse',
    attempting: (call) => {
      call.end({ code: grpc.status.UNAVAILABLE, details: 'refused by a test step', metadata: new grpc.Metadata() });
      return false;
    },
  };
  await withStub(stepsInterceptor([refusing]), async (client) => {
    reset([]);
    const { err } = await start(client, 'x').done;
    assert.equal(err?.code, grpc.status.UNAVAILABLE);
    assert.match(err!.details, /refused by a test step/);
    assert.equal(arrivals.all.length, 0);
  });
});

test('a cancel while a retry waits ends the call at once as CANCELLED, and the retry is never sent', async () => {
  const clock = new ManualClock();
  const events = new EventQueue<string>();
  await withStub(grpcRetryInterceptor(retryOptions(clock, events)), async (client) => {
    reset([grpc.status.UNAVAILABLE]);
    const call = start(client, 'cancel me');
    assert.equal(await events.next('a retry'), 'retries_total');
    call.call.cancel();
    await turn();
    assert.equal(call.outcome()?.err?.code, grpc.status.CANCELLED, 'the caller hears of its cancel without waiting for the backoff');
    clock.advance(1_000);
    await turn();
    assert.equal(arrivals.all.length, 1, 'no attempt after the cancel');
  });
});

test('a retry whose backoff ends past the deadline is not sent and spends no budget; the caller gets DEADLINE_EXCEEDED at the deadline', async () => {
  // The manual clock's wall time runs 10 s ahead of the real one, so the deadline is 50 ms away for
  // meshwork's waits and 10 s away for grpc-js's own deadline timer: only the manual clock decides.
  const clock = new ManualClock(0, Date.now() + 10_000 - 50);
  const events = new EventQueue<string>();
  const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 10 }, clock);
  await withStub(grpcRetryInterceptor(retryOptions(clock, events, { budget })), async (client) => {
    reset([grpc.status.UNAVAILABLE]);
    const available = budget.available();
    const call = start(client, 'late', { deadline: clock.wallNow() + 50 });
    assert.equal(await events.next('the retry decision'), 'retry_skipped_deadline_total');
    assert.equal(budget.available(), available, 'no budget spent on a retry that cannot be sent in time');
    clock.advance(49);
    await turn();
    assert.equal(call.outcome(), undefined, 'not before the deadline');
    clock.advance(1);
    assert.equal(call.outcome()?.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.deepEqual(events.all, ['retry_skipped_deadline_total']);
    assert.equal(arrivals.all.length, 1);
  });
});

test('an injected delay that outlasts the deadline ends the call with DEADLINE_EXCEEDED at the deadline, before any attempt', async () => {
  const clock = new ManualClock();
  await withStub(delayAll(clock, 10_000), async (client) => {
    reset([]);
    const call = start(client, 'slow', { deadline: clock.wallNow() + 200 });
    await turn();
    clock.advance(199);
    assert.equal(call.outcome(), undefined);
    clock.advance(1);
    assert.equal(call.outcome()?.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(arrivals.all.length, 0);
  });
});

test('an injected delay holds the call back, then the call goes on and succeeds', async () => {
  const clock = new ManualClock();
  await withStub(delayAll(clock, 500), async (client) => {
    reset([]);
    const call = start(client, 'delayed');
    await turn();
    assert.equal(arrivals.all.length, 0, 'held while the delay runs');
    clock.advance(500);
    assert.equal((await call.done).res, 'ok delayed');
  });
});

test('an injected delay holds streaming calls too: what the caller wrote or asked to read meanwhile goes through, in order, once it is over', async () => {
  const clock = new ManualClock();
  await withStub(delayAll(clock, 500), async (client) => {
    const total = new Promise<string>((resolve, reject) => {
      const call = client.sum((err, res) => (err ? reject(err) : resolve(res!.toString())));
      for (const n of [1, 2, 3, 4]) call.write(Buffer.from(String(n)));
      call.end();
    });
    const counted = new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      const call = client.count(Buffer.from('3'));
      call.on('data', (m: Buffer) => got.push(m.toString()));
      call.on('error', reject);
      call.on('end', () => resolve(got));
    });
    await turn();
    clock.advance(500);
    assert.equal(await total, '10');
    assert.deepEqual(await counted, ['1', '2', '3']);
  });
});

test('a retried call shows the caller the response headers of the attempt that answered, not of the failed one', async () => {
  const clock = new ManualClock();
  const events = new EventQueue<string>();
  await withStub(grpcRetryInterceptor(retryOptions(clock, events)), async (client) => {
    reset([grpc.status.UNAVAILABLE]);
    const call = start(client, 'headers');
    await events.next('a retry');
    clock.advance(100);
    assert.equal((await call.done).res, 'ok headers');
    assert.deepEqual(call.headers, ['2']);
  });
});

/**
 * The admin's windowed figures on a ManualClock: the latency histogram's percentiles, the rolling
 * window's expiry and coverage, and MeshStats + summarize() turning completed requests and stack
 * events into per-service and per-route success, RPS, percentiles, retries, faults and callers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/index.js';
import { bucketOf, HISTOGRAM_BUCKETS, LatencyHistogram } from '../../src/policy/latency-histogram.js';
import { MeshStats } from '../../src/admin/mesh-stats.js';
import { summarize, UNAUTHENTICATED, type SummarySource } from '../../src/admin/mesh-summary.js';
import { RollingWindow } from '../../src/policy/rolling-window.js';
import type { CompletedRequest } from '../../src/telemetry/request-observer.js';

test('the histogram keeps percentiles within its 6% buckets, from sub-millisecond to minutes', () => {
  for (const latency of [0.2, 1, 3.7, 42, 100, 987, 61_000]) {
    const h = new LatencyHistogram();
    for (let i = 0; i < 100; i++) h.record(latency);
    const p50 = h.quantile(0.5)!;
    // Below 1 ms the buckets are 1/16 ms wide.
    const error = latency < 1 ? Math.abs(p50 - latency) * 16 : Math.abs(p50 - latency) / latency / 0.0625;
    assert.ok(error <= 1, `p50 of ${latency} ms read as ${p50}`);
  }
  const mixed = new LatencyHistogram();
  for (let i = 0; i < 90; i++) mixed.record(4);
  for (let i = 0; i < 10; i++) mixed.record(104);
  assert.ok(Math.abs(mixed.quantile(0.5)! - 4) < 0.3, `p50 ${mixed.quantile(0.5)}`);
  assert.ok(mixed.quantile(0.95)! > 100 && mixed.quantile(0.95)! < 110, `p95 ${mixed.quantile(0.95)}`);
  assert.equal(new LatencyHistogram().quantile(0.5), undefined);
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(-1), 0);
  assert.equal(bucketOf(Number.POSITIVE_INFINITY), HISTOGRAM_BUCKETS - 1);
  assert.equal(bucketOf(1e12), HISTOGRAM_BUCKETS - 1);
  for (let ms = 0.01; ms < 1e7; ms *= 1.37) assert.ok(bucketOf(ms) <= bucketOf(ms * 1.37), `buckets must not go down at ${ms}`);
});

test('the rolling window forgets what is older than the window and reports the time it covers', () => {
  const clock = new ManualClock(0);
  const counter = { make: () => ({ n: 0 }), reset: (s: { n: number }) => (s.n = 0), merge: (a: { n: number }, b: { n: number }) => (a.n += b.n) };
  const window = new RollingWindow(10_000, counter, clock);
  const read = () => {
    const into = counter.make();
    const covered = window.sum(into);
    return { n: into.n, covered };
  };
  window.current().n += 5;
  clock.advance(2_500);
  assert.deepEqual(read(), { n: 5, covered: 2_500 }, 'a young window covers only its age');
  window.current().n += 1;
  clock.advance(8_000);
  assert.deepEqual(read(), { n: 1, covered: 9_500 }, 'the first slice has gone out; the read covers 9 whole slices and part of one');
  clock.advance(30_000);
  assert.deepEqual(read(), { n: 0, covered: 9_500 });
});

function completed(fields: Partial<CompletedRequest>): CompletedRequest {
  return {
    at: 0,
    direction: 'outbound',
    service: 'words',
    authority: 'words',
    route: undefined,
    request: { method: 'GET', path: '/' },
    response: undefined,
    endpoint: '127.0.0.1:1',
    attempts: 1,
    statusCode: 200,
    grpcStatus: undefined,
    classification: 'success',
    error: undefined,
    latencyMs: 4,
    peer: undefined,
    ...fields,
  };
}

const noServices: SummarySource = { services: () => [], client: () => assert.fail('no clients') };

test('summarize: per service and route success rate, RPS and percentiles over the window; retries and faults per second from stack events', () => {
  const clock = new ManualClock(0);
  const stats = new MeshStats(clock, 10_000);
  // 20 s of steady traffic, a request every 100 ms: the first half has gone out of the window. At a
  // slice boundary the current slice is empty, so the reading covers the nine before it.
  for (let second = 0; second < 20; second++) {
    for (let i = 0; i < 10; i++) {
      const failing = second >= 10 && i === 0;
      stats.completed(completed({ route: i < 5 ? 'GET /words' : undefined, classification: failing ? 'failure' : 'success', latencyMs: i === 9 ? 100 : 4 }));
      if (i === 5) {
        stats.stackEvent('words', 'retries_total', 2);
        stats.stackEvent('words', second % 2 === 0 ? 'faults_delayed_total' : 'faults_aborted_total', 1);
      }
      clock.advance(100);
    }
  }
  const summary = summarize(stats.read(), noServices, 'spiffe://cluster.local/ns/default/sa/simon', true);
  assert.equal(summary.coveredMs, 9_000);
  assert.equal(summary.services.length, 1);
  const words = summary.services[0]!;
  assert.equal(words.direction, 'outbound');
  assert.equal(words.name, 'words');
  assert.equal(words.requests, 90);
  assert.equal(words.successRate, 0.9);
  assert.equal(words.rps, 10);
  assert.ok(Math.abs(words.latencyMs.p50! - 4) < 0.3, `p50 ${words.latencyMs.p50}`);
  assert.ok(words.latencyMs.p99! > 95 && words.latencyMs.p99! < 110, `p99 ${words.latencyMs.p99}`);
  assert.equal(words.retries.perSecond, 2);
  assert.equal(words.faultsPerSecond, 1, 'aborts and delays together');
  assert.equal(words.breaker, null, 'no client for it: nothing to read a breaker from');
  assert.deepEqual(words.routes.map((r) => [r.route, r.requests, r.successRate]), [['GET /words', 45, 0.8], ['default', 45, 1]]);
  assert.deepEqual(summary.edges, [{ from: 'spiffe://cluster.local/ns/default/sa/simon', to: 'words', requests: 90, successRate: 0.9, rps: 10 }]);
  assert.deepEqual(summary.tap, { enabled: true });
});

test('summarize: inbound callers by verified identity become edges to this process; configured services with no traffic are listed with their state', () => {
  const clock = new ManualClock(0);
  const stats = new MeshStats(clock, 10_000);
  clock.advance(5_000);
  const simon = { tls: true, clientId: 'spiffe://cluster.local/ns/default/sa/simon' };
  stats.completed(completed({ direction: 'inbound', service: 'app', authority: 'words', peer: simon }));
  stats.completed(completed({ direction: 'inbound', service: 'app', authority: 'words', peer: simon, classification: 'failure', statusCode: 500 }));
  stats.completed(completed({ direction: 'inbound', service: 'app', authority: 'words', peer: { tls: false } }));
  const source: SummarySource = {
    services: () => ['capitalizer'],
    client: () => ({
      name: 'capitalizer',
      retryBudget: undefined,
      status: () => ({
        breaker: { state: 'open', probeInMs: 2_500 },
        destinations: [{ destination: 'capitalizer', endpoints: [{ endpoint: '127.0.0.1:9', pending: 2, ewmaMs: 12.3456, ejected: true, ejectedForMs: 29_999.6 }] }],
      }),
    }),
  };
  const summary = summarize(stats.read(), source, 'words-sidecar', false);
  assert.deepEqual(summary.services.map((s) => `${s.direction} ${s.name} ${s.requests}`), ['inbound words 3', 'outbound capitalizer 0']);
  const capitalizer = summary.services[1]!;
  assert.equal(capitalizer.successRate, null);
  assert.deepEqual(capitalizer.latencyMs, { p50: null, p95: null, p99: null });
  assert.deepEqual(capitalizer.breaker, { state: 'open', probeInMs: 2_500 });
  assert.deepEqual(capitalizer.endpoints, [{ destination: 'capitalizer', address: '127.0.0.1:9', pending: 2, ewmaMs: 12.346, ejected: true, ejectedForMs: 30_000 }]);
  assert.deepEqual(summary.edges, [
    { from: UNAUTHENTICATED, to: 'words-sidecar', requests: 1, successRate: 1, rps: 0.2 },
    { from: 'spiffe://cluster.local/ns/default/sa/simon', to: 'words-sidecar', requests: 2, successRate: 0.5, rps: 0.4 },
  ]);
});

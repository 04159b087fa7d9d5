/**
 * gRPC calls in the golden metrics: each `grpc_status` gets its own response series, found by index
 * for the statuses gRPC defines and by label set for any other number a server may send; the
 * request series is the one HTTP requests to the same route count in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshMetrics } from '../../src/telemetry/mesh-metrics.js';
import { metricValue } from '../helpers/sidecar-process.js';

test('a route counts calls by grpc_status with their classification, a status gRPC does not define included', async () => {
  const metrics = new MeshMetrics();
  const route = metrics.route('outbound', 'books', '/test.Books/Get');
  for (const [status, latency] of [[0, 3], [0, 7], [14, 1], [99, 2], [99, 2]] as const) {
    route.started();
    route.grpcEnded(status, latency);
  }
  metrics.grpcResponded('outbound', 'books', '/test.Books/Get', 14, 50);
  const text = await metrics.registry.metrics();
  const labels = { direction: 'outbound', authority: 'books', route: '/test.Books/Get' };
  assert.equal(metricValue(text, 'request_total', labels), 5);
  assert.equal(metricValue(text, 'response_total', { ...labels, grpc_status: '0', classification: 'success' }), 2);
  assert.equal(metricValue(text, 'response_total', { ...labels, grpc_status: '14', classification: 'failure' }), 2);
  assert.equal(metricValue(text, 'response_total', { ...labels, grpc_status: '99', classification: 'failure' }), 2);
  assert.equal(metricValue(text, 'response_latency_ms_sum', { ...labels, grpc_status: '0' }), 10);
  assert.equal(metricValue(text, 'response_latency_ms_count', { ...labels, grpc_status: '14' }), 2);
  assert.equal(metricValue(text, 'response_latency_ms_bucket', { ...labels, grpc_status: '14', le: '50' }), 2);
  assert.equal(metricValue(text, 'response_latency_ms_bucket', { ...labels, grpc_status: '14', le: '40' }), 1);
});

test('a gRPC call and an HTTP request to the same route count in one request series', async () => {
  const metrics = new MeshMetrics();
  metrics.requestStarted('outbound', 'books', '/test.Books/Get');
  metrics.route('outbound', 'books', '/test.Books/Get').started();
  const text = await metrics.registry.metrics();
  assert.equal(text.split('\n').filter((line) => line.startsWith('request_total{')).length, 1);
  assert.equal(metricValue(text, 'request_total', { route: '/test.Books/Get' }), 2);
});

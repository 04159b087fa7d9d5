/**
 * The steps a service's gRPC calls go through, and their order: the HTTP stack's order for the
 * concerns both have, with a step left out when its policy is off.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultClientStack } from '../../src/client/default-stack.js';
import { ManualClock } from '../../src/core/clock.js';
import { FailureRateBreaker, breakerOptions } from '../../src/policy/failure-rate-breaker.js';
import { MeshMetrics } from '../../src/telemetry/mesh-metrics.js';
import { grpcPolicySteps } from '../../src/grpc/policy-steps.js';

const breaker = new FailureRateBreaker(breakerOptions({}), new ManualClock().now());
const roles = (policy: Parameters<typeof grpcPolicySteps>[1], metrics?: MeshMetrics) =>
  grpcPolicySteps('books', policy, { metrics, retryBudget: () => undefined, breaker: () => breaker }).map((s) => s.role);

const everyPolicy = {
  timeouts: { totalMs: 500, perTryMs: 100 },
  faults: [{ abort: { percent: 1, httpStatus: 503 } }],
  retries: {},
  limits: { maxConcurrency: 10, rateLimit: { requestsPerSecond: 100 } },
};

test('every policy on: trace, metrics, the limits, deadline, fault, retry, then per attempt the breaker and the per-try timeout', () => {
  assert.deepEqual(roles(everyPolicy, new MeshMetrics()), ['trace', 'metrics', 'concurrency-limit', 'rate-limit', 'deadline', 'fault', 'retry', 'circuit-breaker', 'per-try-timeout']);
});

test("the steps keep the HTTP stack's order for the layers both have", () => {
  const http = defaultClientStack().roles();
  const grpc = roles(everyPolicy, new MeshMetrics()).map((role) => (role === 'deadline' ? 'total-timeout' : role));
  const positions = grpc.map((role) => http.indexOf(role));
  assert.ok(positions.every((p) => p >= 0), `every gRPC step has an HTTP layer: ${grpc.join(', ')} in ${http.join(', ')}`);
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
});

test('a step whose policy is off is left out; the span is always there to continue a trace', () => {
  assert.deepEqual(roles({ retries: false, circuitBreaker: false }), ['trace']);
  assert.deepEqual(roles({}, new MeshMetrics()), ['trace', 'metrics', 'retry', 'circuit-breaker']);
});

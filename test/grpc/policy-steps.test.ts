/**
 * The steps a service's gRPC calls go through, and their order: the HTTP stack's order for the
 * concerns both have, with a step left out when its policy is off.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshMetrics } from '../../src/telemetry/mesh-metrics.js';
import { grpcPolicySteps } from '../../src/grpc/policy-steps.js';

const roles = (policy: Parameters<typeof grpcPolicySteps>[1], metrics?: MeshMetrics) => grpcPolicySteps('books', policy, { metrics, retryBudget: () => undefined }).map((s) => s.role);

test('every policy on: trace, metrics, deadline, fault, retry', () => {
  const policy = { timeouts: { totalMs: 500 }, faults: [{ abort: { percent: 1, httpStatus: 503 } }], retries: {} };
  assert.deepEqual(roles(policy, new MeshMetrics()), ['trace', 'metrics', 'deadline', 'fault', 'retry']);
});

test('a step whose policy is off is left out; the span is always there to continue a trace', () => {
  assert.deepEqual(roles({ retries: false }), ['trace']);
  assert.deepEqual(roles({}, new MeshMetrics()), ['trace', 'metrics', 'retry']);
});

/**
 * How grpcClient's limits refuse a call: at once, before any attempt, with RESOURCE_EXHAUSTED and
 * details starting with the HTTP stack's error code (CONCURRENCY_LIMITED, RATE_LIMITED).
 *
 * RESOURCE_EXHAUSTED rather than UNAVAILABLE: the limit is a local quota, which is what gRPC's
 * RESOURCE_EXHAUSTED stands for, and UNAVAILABLE is the status gRPC retry policies, Linkerd's
 * default and this mesh's own `grpcStatusCodes` retry, so a shed call would come straight back and
 * defeat the shedding. Envoy answers its local rate limit to gRPC callers the same way when
 * `rate_limited_as_resource_exhausted` is set.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { GrpcCall } from '../grpc-call-step.js';

export function refuseOverLimit(call: GrpcCall, code: 'CONCURRENCY_LIMITED' | 'RATE_LIMITED', why: string): false {
  call.end({ code: Status.RESOURCE_EXHAUSTED, details: `${code}: ${why}; refused without sending`, metadata: new Metadata() });
  return false;
}

/**
 * Which gRPC statuses say that the service (or one endpoint of it) failed a call, as opposed to the
 * call's own outcome: one set, asked by grpcClient's circuit breaker and its balancer's outlier
 * ejection, as response-classifier.ts is asked for HTTP.
 *
 * A failure of the service: UNKNOWN, INTERNAL and DATA_LOSS (the server broke; what a 5xx is to
 * HTTP), UNAVAILABLE (not reachable, or shedding load) and DEADLINE_EXCEEDED (too slow: Finagle's
 * failure accrual and the HTTP breaker count timeouts too). Not failures: OK, and the statuses that
 * describe the request or the caller rather than the server's health (CANCELLED: the caller gave
 * up; INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED: a quota,
 * FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, UNAUTHENTICATED), as a 4xx is not an
 * HTTP failure.
 *
 * An endpoint's failure, for outlier ejection, is the same set without DEADLINE_EXCEEDED: a deadline
 * is the caller's budget running out, which says as much about the caller as about the endpoint
 * (the HTTP balancer likewise does not count a timed-out request against the endpoint; peak-EWMA is
 * what steers calls away from a slow one).
 */

const CANCELLED = 1;
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const DATA_LOSS = 15;

/** Whether a call that ended with `code` counts as a failure of the service (the circuit breaker's view). */
export function isGrpcServiceFailure(code: number): boolean {
  return code === UNAVAILABLE || code === DEADLINE_EXCEEDED || code === INTERNAL || code === UNKNOWN || code === DATA_LOSS;
}

/** Whether a call that ended with `code` counts against the endpoint that answered (outlier ejection's view). */
export function isGrpcEndpointFailure(code: number): boolean {
  return code !== DEADLINE_EXCEEDED && isGrpcServiceFailure(code);
}

/**
 * What a call that ended with `code` tells outlier ejection about the endpoint that answered: a
 * failure; nothing, when the caller cancelled or its deadline ran out; else that the endpoint
 * answered (which clears its streak of failures).
 */
export function grpcEndpointOutcome(code: number): 'failure' | 'neutral' | 'answered' {
  if (isGrpcEndpointFailure(code)) return 'failure';
  return code === CANCELLED || code === DEADLINE_EXCEEDED ? 'neutral' : 'answered';
}

/**
 * Decides whether a response is a failure, the way Linkerd does: the matched route's
 * `responseClasses` are tried in order and the first whose condition matches decides; with no match,
 * a 5xx is a failure and anything else a success. Retries, the circuit breaker and outlier ejection
 * all ask this one function, so they agree on what "failed" means.
 */
import type { ResponseClass, ResponseMatch, RoutePolicy } from '../core/policy.js';

export function isFailureResponse(statusCode: number, route: RoutePolicy | undefined): boolean {
  const classes = route?.responseClasses;
  if (classes !== undefined) {
    for (const cls of classes) if (matchesResponse(cls.condition, statusCode)) return cls.isFailure;
  }
  return statusCode >= 500;
}

export function matchesResponse(match: ResponseMatch, statusCode: number): boolean {
  if (match.status !== undefined) {
    const { min, max } = match.status;
    if (min !== undefined && statusCode < min) return false;
    if (max !== undefined && statusCode > max) return false;
  }
  if (match.all !== undefined && !match.all.every((m) => matchesResponse(m, statusCode))) return false;
  if (match.any !== undefined && !match.any.some((m) => matchesResponse(m, statusCode))) return false;
  if (match.not !== undefined && matchesResponse(match.not, statusCode)) return false;
  return true;
}

export type { ResponseClass };

/**
 * Which requests a tap subscriber sees, decided at the source before anything about the request is
 * copied: by direction, authority (or service), path prefix, method, route and status. The same
 * filter is read from the admin URL's query and from `mesh-sidecar tap`'s flags, and a bad value is
 * refused with what was expected.
 */
import { DIRECTIONS } from '../core/core-params.js';
import { DEFAULT_ROUTE, type Direction } from '../telemetry/mesh-metrics.js';
import type { CompletedRequest } from '../telemetry/request-observer.js';

export interface TapFilter {
  direction?: Direction;
  /** The authority label or the service name, case-insensitive. */
  authority?: string;
  /** A prefix of the request path. */
  path?: string;
  method?: string;
  /** A route name; `default` (or `[DEFAULT]`) for requests that matched no route. */
  route?: string;
  /** `503`, a class such as `5xx`, `error` (failed without a response) or `failure` (classified as one). */
  status?: string;
}

export const TAP_FILTER_FIELDS = ['direction', 'authority', 'path', 'method', 'route', 'status'] as const;

export class TapFilterError extends Error {}

/** Reads a filter from query parameters (or flags), refusing values that can match nothing. */
export function parseTapFilter(get: (field: string) => string | null | undefined): TapFilter {
  const filter: TapFilter = {};
  for (const field of TAP_FILTER_FIELDS) {
    const value = get(field);
    if (value === null || value === undefined || value === '') continue;
    filter[field] = value as Direction;
  }
  if (filter.direction !== undefined && !(DIRECTIONS as readonly string[]).includes(filter.direction)) {
    throw new TapFilterError(`direction: expected ${DIRECTIONS.join(', ')}, got ${JSON.stringify(filter.direction)}`);
  }
  if (filter.path !== undefined && !filter.path.startsWith('/')) {
    throw new TapFilterError(`path: expected a path prefix starting with /, got ${JSON.stringify(filter.path)}`);
  }
  if (filter.method !== undefined && !/^[A-Za-z]+$/.test(filter.method)) {
    throw new TapFilterError(`method: expected an HTTP method such as GET, got ${JSON.stringify(filter.method)}`);
  }
  if (filter.status !== undefined && !/^([1-5][0-9][0-9]|[1-5]xx|error|failure)$/i.test(filter.status)) {
    throw new TapFilterError(`status: expected a status (503), a class (5xx), error or failure, got ${JSON.stringify(filter.status)}`);
  }
  return filter;
}

/** A predicate for the filter, with its fields normalized once rather than per request. */
export function tapMatcher(filter: TapFilter): (event: CompletedRequest) => boolean {
  const authority = filter.authority?.toLowerCase();
  const method = filter.method?.toUpperCase();
  const route = filter.route === '[DEFAULT]' ? DEFAULT_ROUTE : filter.route;
  const status = filter.status?.toLowerCase();
  const statusMatches = status === undefined ? () => true : statusPredicate(status);
  return (event) =>
    (filter.direction === undefined || event.direction === filter.direction) &&
    (authority === undefined || event.authority.toLowerCase() === authority || event.service.toLowerCase() === authority) &&
    (filter.path === undefined || event.request.path.startsWith(filter.path)) &&
    (method === undefined || event.request.method.toUpperCase() === method) &&
    (route === undefined || (event.route ?? DEFAULT_ROUTE) === route) &&
    statusMatches(event);
}

function statusPredicate(status: string): (event: CompletedRequest) => boolean {
  if (status === 'error') return (event) => event.statusCode === undefined;
  if (status === 'failure') return (event) => event.classification === 'failure';
  if (status.endsWith('xx')) {
    const hundreds = Number(status[0]);
    return (event) => event.statusCode !== undefined && Math.floor(event.statusCode / 100) === hundreds;
  }
  const code = Number(status);
  return (event) => event.statusCode === code;
}

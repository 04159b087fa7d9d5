/**
 * Envoy's retry conditions (`x-envoy-retry-on`, Istio's `retries.retryOn`), read once into sets the
 * retry filter asks per failure. A route that lists them is retried on exactly these, whatever its
 * method, as Envoy does; each retry is still paid from the service's retry budget.
 *
 * - `5xx`: any 5xx response, and no response at all (could not connect, the connection broke, the
 *   attempt timed out); `gateway-error`: the same with only 502, 503 and 504 as responses.
 * - `reset`: no response (the connection broke, or the per-try timeout fired) and could not connect.
 * - `connect-failure`: could not connect; `refused-stream`: an HTTP/2 stream refused before it was
 *   processed, which meshwork reports as a connect failure too (nothing reached the app either way).
 * - `retriable-4xx`: 409; `retriable-status-codes`, or a status code listed as such (`503`): those
 *   statuses.
 * - gRPC (a trailers-only reply's status): `cancelled`, `deadline-exceeded`, `internal`,
 *   `resource-exhausted`, `unavailable`.
 */
export interface RetryConditions {
  /** Response statuses that are retried. */
  readonly statuses: ReadonlySet<number>;
  /** Could not connect (or TLS failed, or the stream was refused): nothing was sent. */
  readonly connectFailure: boolean;
  /** The exchange broke after the request went out, or the per-try timeout fired. */
  readonly reset: boolean;
  /** gRPC statuses, as the strings of their codes (`"14"`), compared with grpc-status as it comes. */
  readonly grpcStatuses: ReadonlySet<string>;
}

const GRPC_CONDITIONS: Record<string, number> = { cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14 };
const HTTP_CONDITIONS = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-4xx', 'retriable-status-codes'];

/** Envoy conditions meshwork cannot honour, with why, so that they are refused rather than ignored. */
const UNSUPPORTED_CONDITIONS: Record<string, string> = {
  'envoy-ratelimited': 'meshwork has no Envoy rate-limit header to read',
  'retriable-headers': 'meshwork has no retriable-headers list to match',
  'http3-post-connect-failure': 'meshwork does not speak HTTP/3',
  'reset-before-request': 'meshwork cannot tell a reset before the request from one after',
};

export const RETRY_CONDITION_NAMES: readonly string[] = [...HTTP_CONDITIONS, ...Object.keys(GRPC_CONDITIONS)];

/** What is wrong with one condition (a name or an HTTP status), or undefined when it is known. */
export function retryConditionProblem(condition: string | number): string | undefined {
  if (typeof condition === 'number') return Number.isInteger(condition) && condition >= 100 && condition <= 599 ? undefined : 'expected an HTTP status from 100 to 599';
  const name = condition.trim();
  if (/^\d+$/.test(name)) return retryConditionProblem(Number(name));
  if (HTTP_CONDITIONS.includes(name) || name in GRPC_CONDITIONS) return undefined;
  const why = UNSUPPORTED_CONDITIONS[name];
  if (why) return `retry condition "${name}" is not supported (${why})`;
  return `unknown retry condition; expected an HTTP status or one of ${RETRY_CONDITION_NAMES.join(', ')}`;
}

/** The sets for a validated list of conditions. */
export function compileRetryConditions(conditions: readonly (string | number)[]): RetryConditions {
  const statuses = new Set<number>();
  const grpcStatuses = new Set<string>();
  let connectFailure = false;
  let reset = false;
  for (const raw of conditions) {
    const condition = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw.trim();
    if (typeof condition === 'number') {
      statuses.add(condition);
      continue;
    }
    switch (condition) {
      case '5xx':
        for (let s = 500; s <= 599; s++) statuses.add(s);
        connectFailure = reset = true;
        break;
      case 'gateway-error':
        for (const s of [502, 503, 504]) statuses.add(s);
        connectFailure = reset = true;
        break;
      case 'reset':
        connectFailure = reset = true;
        break;
      case 'connect-failure':
      case 'refused-stream':
        connectFailure = true;
        break;
      case 'retriable-4xx':
        statuses.add(409);
        break;
      case 'retriable-status-codes':
        // Meaningful only with the statuses listed beside it, which are added as they come.
        break;
      default:
        if (condition in GRPC_CONDITIONS) grpcStatuses.add(String(GRPC_CONDITIONS[condition]));
    }
  }
  return { statuses, connectFailure, reset, grpcStatuses };
}

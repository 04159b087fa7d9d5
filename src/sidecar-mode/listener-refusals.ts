/**
 * What a listener did to a caller that broke one of its timeouts or limits. A flood of such callers
 * must not become a flood of log lines (the log is what an operator reads during the attack), so each
 * kind is logged once per listener, at warn, and every occurrence is counted in
 * `meshwork_listener_refused_total{listener, reason}`; the rest are logged at debug. An idle
 * keep-alive connection closed on time is routine, not a refusal of anything wrong: info.
 */
import { Counter, type Registry } from 'prom-client';
import type { LogFields, Logger } from '../core/logger.js';

export type RefusalReason =
  | 'headers_timeout'
  | 'request_timeout'
  | 'stream_idle_timeout'
  | 'idle_timeout'
  | 'max_connections'
  | 'max_requests_in_flight'
  | 'header_too_large'
  | 'malformed_request';

const WHAT: Record<RefusalReason, string> = {
  headers_timeout: 'connection closed: the request headers did not arrive within headersTimeout',
  request_timeout: 'connection closed: the request did not arrive whole within requestTimeout',
  stream_idle_timeout: 'connection closed: nothing moved on it for streamIdleTimeout (a caller that stopped reading?)',
  idle_timeout: 'keep-alive connection closed: no request on it for idleTimeout',
  max_connections: 'connection refused: the listener has maxConnections open',
  max_requests_in_flight: 'request refused with 503: the listener has maxRequestsInFlight in progress',
  header_too_large: 'request refused with 431: its headers exceed maxHeaderBytes',
  malformed_request: 'malformed request refused',
};

const METRIC = 'meshwork_listener_refused_total';

export type ReportRefusal = (reason: RefusalReason, fields?: LogFields) => void;

export function listenerRefusals(listener: string, logger: Logger, registry?: Registry): ReportRefusal {
  const counter = registry
    ? ((registry.getSingleMetric(METRIC) as Counter<'listener' | 'reason'> | undefined) ??
      new Counter({ name: METRIC, help: 'Connections closed and requests refused by a listener\'s timeouts and limits, by reason.', labelNames: ['listener', 'reason'], registers: [registry] }))
    : undefined;
  const logged = new Set<RefusalReason>();
  return (reason, fields) => {
    counter?.inc({ listener, reason });
    const line = { listener, reason, ...fields };
    if (logged.has(reason)) return logger.debug(WHAT[reason], line);
    logged.add(reason);
    logger[reason === 'idle_timeout' ? 'info' : 'warn'](WHAT[reason], { ...line, note: `logged once; every occurrence is counted in ${METRIC}` });
  };
}

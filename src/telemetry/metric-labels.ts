/**
 * The label vocabulary of the golden metrics (Linkerd's), shared by the metrics and what listens to
 * finished requests.
 */
export type { Direction } from '../core/core-params.js';
export type Classification = 'success' | 'failure';

/** Who called, for inbound metrics (Linkerd's `tls` and `client_id` labels). */
export interface PeerLabels {
  tls: boolean;
  clientId?: string | undefined;
}

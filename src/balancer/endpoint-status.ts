/** What a balancer tells about one of its endpoints, for admin views and `client.status()`. */
export interface EndpointStatus {
  endpoint: string;
  /** Requests sent to it and not finished. */
  pending: number;
  /** The peak-EWMA latency estimate the balancer weighs it by, ms (p2c-ewma only). */
  ewmaMs?: number;
  ejected: boolean;
  /** How long it stays ejected, ms (0 when in rotation). */
  ejectedForMs: number;
}

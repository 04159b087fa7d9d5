/**
 * What a meshClient accepts. The data part is the same ServiceConfig a `kind: Mesh` YAML document
 * gives for a service, validated by the one schema in src/config/service-schema.ts, so code options
 * and YAML produce the same settings and the same error messages. Code can also give what YAML
 * cannot: a clock, a random source, a logger, and an edit of the stack.
 */
import type { TracerProvider } from '@opentelemetry/api';
import type { Clock, Random } from '../core/clock.js';
import type { Direction } from '../core/core-params.js';
import type { Logger } from '../core/logger.js';
import type { Stack } from '../core/stack.js';
import type { ServiceConfig } from '../config/service-schema.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';
import type { IdentitySource } from '../tls/identity-source.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';

export type BalancerKind = 'p2c-ewma' | 'p2c-least-request' | 'round-robin';

/** Options only code can give: objects and functions that have no YAML form. */
export interface ClientCodeOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Edits the default stack before it is built, e.g. `(s) => s.insertBefore('retry', myModule)`. */
  stack?: (stack: Stack<MeshRequest, MeshResponse>) => Stack<MeshRequest, MeshResponse>;
  /**
   * Where the golden metrics go. Default: a MeshMetrics of the client's own (`client.metrics`, its
   * Prometheus registry `client.registry`), or the mesh's; `false` leaves the metrics filter out.
   */
  metrics?: MeshMetrics | false;
  /** This process's certificate and trust anchors, for services with `tls` (mTLS). */
  identity?: IdentitySource;
  /** The metrics' `direction` label: `outbound` (default) for calls out, `inbound` for a proxy's calls to its own app, `egress` for external hosts. */
  direction?: Direction;
  /** Where spans go. Default: the provider registered globally (`@opentelemetry/api`), or the mesh's own with `spec.tracing`. */
  tracerProvider?: TracerProvider;
}

export type MeshClientOptions = ServiceConfig & ClientCodeOptions;

const CODE_ONLY_KEYS = new Set<string>(['clock', 'random', 'logger', 'stack', 'metrics', 'direction', 'identity', 'tracerProvider']);

/** Splits options into the data the schema validates and the code-only objects. */
export function splitClientOptions(options: MeshClientOptions): { data: Record<string, unknown>; code: ClientCodeOptions } {
  const data: Record<string, unknown> = {};
  const code: ClientCodeOptions = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (CODE_ONLY_KEYS.has(key)) (code as Record<string, unknown>)[key] = value;
    else data[key] = value;
  }
  return { data, code };
}

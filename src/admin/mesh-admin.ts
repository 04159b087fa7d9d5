/**
 * `mesh.admin({ listen })`: the sidecar's admin views for a Node process using the library — the
 * dashboard at `/`, `/api/summary`, tap (when enabled), `/metrics` and `/live` — on loopback unless
 * told otherwise, at Linkerd 1's admin port 9990 by default. Its stats windows start with it.
 */
import { MeshError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { adminSchema, followAdminSettings, type AdminSection } from '../config/admin-schema.js';
import { formatHostPort, isLoopbackHost, parseHostPort, type HostPort } from '../config/listen-address.js';
import { schemaProblems } from '../config/schema-problems.js';
import { formatPath } from '../core/field-path.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { startAdminServer } from './admin-server.js';
import { AdminView } from './admin-view.js';
import type { SummarySource } from './mesh-summary.js';

export interface MeshAdminOptions {
  /** `host:port`, a port (on loopback) or `{ host, port }`; port 0 picks a free one. Default `127.0.0.1:9990`. */
  listen?: string | number | HostPort;
  /** Overrides `spec.admin.tap`: `true`, or `{ enabled, maxEventsPerSecond, redactHeaders }`. */
  tap?: AdminSection['tap'] | boolean;
  /** Overrides `spec.admin.statsWindow`: the window of the success rates, rates and percentiles. Default 10s. */
  statsWindow?: string | number;
  /** This process in the topology when it has no identity. Default `this process`. */
  name?: string;
}

export interface MeshAdmin {
  readonly address: HostPort;
  /** Where the dashboard is, e.g. `http://127.0.0.1:9990/`. */
  readonly url: string;
  close(): Promise<void>;
}

export interface MeshAdminDeps {
  source: SummarySource;
  metrics: MeshMetrics | undefined;
  clock: Clock;
  logger: Logger;
  /** The config file's `spec.admin`, as applied now (reloads included). */
  configured(): AdminSection | undefined;
  identity(): string | undefined;
}

export const DEFAULT_MESH_ADMIN = '127.0.0.1:9990';

export async function startMeshAdmin(deps: MeshAdminDeps, options: MeshAdminOptions = {}): Promise<MeshAdmin> {
  if (deps.metrics === undefined) {
    throw new MeshError('INVALID_OPTIONS', 'mesh.admin(): this mesh was created with metrics: false, and the admin views are built from its metrics; leave metrics on to use them');
  }
  const address = listenAddress(options.listen);
  const settings = followAdminSettings(deps.configured, codeSection(options));
  const view = new AdminView({ source: deps.source, metrics: deps.metrics, clock: deps.clock, settings, self: () => deps.identity() ?? options.name ?? 'this process' });
  if (!isLoopbackHost(address.host)) deps.logger.warn('the mesh admin listens beyond loopback; the dashboard, metrics and tap are visible to the network', { admin: formatHostPort(address) });
  let server;
  try {
    server = await startAdminServer(address, { registry: deps.metrics.registry, ready: () => true, view }, deps.logger);
  } catch (err) {
    view.close();
    const e = err as NodeJS.ErrnoException;
    throw new MeshError('INVALID_OPTIONS', `mesh.admin(): cannot listen on ${formatHostPort(address)}: ${e.code === 'EADDRINUSE' ? 'the address is in use; give listen: <port> (0 picks a free one)' : e.message}`);
  }
  const bound = server.address;
  return {
    address: bound,
    url: `http://${formatHostPort(bound)}/`,
    close: () => server.close(),
  };
}

function listenAddress(listen: MeshAdminOptions['listen']): HostPort {
  if (listen !== null && typeof listen === 'object' && typeof listen.host === 'string' && Number.isInteger(listen.port)) return listen;
  const parsed = parseHostPort(String(listen ?? DEFAULT_MESH_ADMIN), '127.0.0.1');
  if (parsed === null || 'problem' in parsed) {
    throw new MeshError('INVALID_OPTIONS', `mesh.admin(): listen: ${parsed === null ? `expected an address to listen on, got ${JSON.stringify(listen)}` : parsed.problem}`);
  }
  return parsed;
}

/** The code options, checked by the same schema as `spec.admin`. */
function codeSection(options: MeshAdminOptions): AdminSection {
  const input = { ...(options.tap === undefined ? {} : { tap: options.tap }), ...(options.statsWindow === undefined ? {} : { statsWindow: options.statsWindow }) };
  const parsed = adminSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = schemaProblems(adminSchema, parsed.error.issues, input).map((p) => `${formatPath(p.key ? p.path.slice(0, -1) : p.path)}: ${p.message}`);
  throw new MeshError('INVALID_OPTIONS', `mesh.admin(): invalid options:\n  - ${problems.join('\n  - ')}`);
}

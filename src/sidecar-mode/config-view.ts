/** The sidecar's `/config`: the effective configuration, as it runs now (credentials redacted by the admin server). */
import type { Mesh } from '../client/create-mesh.js';
import { formatHostPort, type HostPort } from '../config/listen-address.js';
import type { TracingSection } from '../config/tracing-schema.js';
import { adminSettings } from '../config/admin-schema.js';
import type { SidecarPolicy } from './sidecar-policy.js';

export function effectiveConfig(file: string, live: SidecarPolicy, mesh: Mesh, tracing: TracingSection | undefined, bound: Record<'outbound' | 'inbound' | 'admin', HostPort | null>): unknown {
  const settings = live.settings;
  const address = (a: HostPort | null) => (a ? formatHostPort(a) : 'off');
  return {
    configFile: file,
    configGeneration: mesh.configGeneration,
    configError: mesh.configError?.message ?? null,
    sidecar: {
      // The addresses actually bound (port 0 in the config becomes the port chosen).
      outbound: address(bound.outbound),
      inbound: address(bound.inbound),
      admin: address(bound.admin),
      app: address(settings.app),
      drainGraceMs: settings.drainGraceMs,
      logLevel: settings.logLevel,
      accessLog: settings.accessLog,
      maxHeaderBytes: settings.maxHeaderBytes,
      limits: settings.limits,
      maxHops: settings.maxHops,
      inboundTls: live.tlsMode,
      authorization: settings.authorization,
      // Changed in the file, but the listeners run with what they started with until a restart.
      pendingRestart: live.pendingRestart,
    },
    admin: adminSettings(mesh.adminConfig),
    // As the sidecar started with it: the exporter is set up once.
    tracing: tracing ?? null,
    identity: mesh.identity ? { spiffeId: mesh.identity.current().spiffeId, notAfter: mesh.identity.current().notAfter.toISOString(), files: mesh.identity.files } : null,
    unknownHosts: mesh.unknownHosts,
    services: Object.fromEntries(mesh.services().map((name) => [mesh.client(name).name, mesh.client(name).settings])),
  };
}

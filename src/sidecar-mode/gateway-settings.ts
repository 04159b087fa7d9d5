/**
 * The gateway as it starts: spec.gateway from the config file, with the listener addresses the
 * command line gives (`--gateway`, `--gateway-http`) in place of the file's. The flags only move
 * listeners: certificates and routes come from the file.
 */
import { MeshError } from '../core/errors.js';
import type { HostPort } from '../config/listen-address.js';
import type { GatewaySection } from '../config/gateway-schema.js';

export interface GatewayOverrides {
  /** The HTTPS listener (`none` turns it off). */
  https?: HostPort | null;
  /** The plain HTTP listener (`none` turns it off). */
  http?: HostPort | null;
}

export function gatewaySettings(section: GatewaySection | undefined, overrides: GatewayOverrides = {}): GatewaySection | undefined {
  const flagged = overrides.https !== undefined || overrides.http !== undefined;
  if (section === undefined) {
    if (flagged) throw new MeshError('INVALID_CONFIG', '--gateway / --gateway-http: the config has no spec.gateway section (certificates and routes) for the gateway to serve');
    return undefined;
  }
  const merged: GatewaySection = { ...section };
  if (overrides.https !== undefined) merged.https = overrides.https;
  if (overrides.http !== undefined) merged.http = overrides.http;
  if (merged.https && merged.certificates.length === 0) throw new MeshError('INVALID_CONFIG', '--gateway: an https listener needs spec.gateway.certificates');
  if (!merged.https && !merged.http) return undefined;
  return merged;
}

/** Whether a reloaded config changes what the gateway only reads at start: its listeners and certificate list. */
export function gatewayRestartNeeded(running: GatewaySection | undefined, next: GatewaySection | undefined, overrides: GatewayOverrides = {}): boolean {
  const startup = (g: GatewaySection | undefined) => {
    let merged: GatewaySection | undefined;
    try {
      merged = g && gatewaySettings(g, overrides);
    } catch {
      return 'unusable';
    }
    return JSON.stringify(merged ? { https: merged.https, http: merged.http, httpsRedirect: merged.httpsRedirect, certificates: merged.certificates.map(({ hosts, certFile, keyFile }) => ({ hosts, certFile, keyFile })) } : null);
  };
  return startup(running) !== startup(next);
}

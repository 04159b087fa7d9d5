/**
 * A mesh's own identity from its config file's `spec.identity` (paths relative to the file),
 * loaded and watched by IdentitySource. An identity given in code is the caller's and is used as is.
 */
import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { IdentitySource } from '../tls/identity-source.js';

export function loadMeshIdentity(config: MeshConfig, configDir: string, options: { logger?: Logger; clock?: Clock; registry?: Registry }): IdentitySource | undefined {
  const identity = config.identity;
  if (identity === undefined) return undefined;
  return IdentitySource.loadSync(
    {
      certFile: resolve(configDir, identity.certFile),
      keyFile: resolve(configDir, identity.keyFile),
      trustAnchorsFile: resolve(configDir, identity.trustAnchorsFile),
    },
    {
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      ...(identity.expiryWarning ? { warnBeforeMs: identity.expiryWarning } : {}),
    },
  );
}

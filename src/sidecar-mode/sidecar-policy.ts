/**
 * The part of spec.sidecar a running sidecar follows on a reload: the authorization policy (read
 * per request, so it applies to the next request on open connections too), the inbound mTLS mode
 * (per new connection), logging and the grace period. Addresses and limits the listeners were built
 * with wait for a restart; a reload that changes them says so in the log and in /config.
 */
import { isDeepStrictEqual } from 'node:util';
import { MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { sidecarSettings, type SidecarSection, type SidecarSettings } from '../config/sidecar-schema.js';
import { compileAuthorization, type Authorize } from './inbound-authorization.js';
import type { InboundTlsMode } from './inbound-tls.js';

/** spec.sidecar fields the listeners are built with: a reload that changes them waits for a restart. */
const RESTART_ONLY = ['outbound', 'inbound', 'admin', 'app', 'maxHeaderBytes', 'limits'] as const;

export class SidecarPolicy {
  settings: SidecarSettings;
  authorize: Authorize | undefined;
  tlsMode: InboundTlsMode = 'off';
  /** Fields changed in the file that the running listeners do not follow. */
  pendingRestart: string[] = [];
  readonly #started: SidecarSettings;
  readonly #configFile: string;
  readonly #overrides: SidecarSection | undefined;
  readonly #logger: Logger;

  constructor(started: SidecarSettings, configFile: string, overrides: SidecarSection | undefined, logger: Logger) {
    this.settings = started;
    this.authorize = compileAuthorization(started.authorization);
    this.#started = started;
    this.#configFile = configFile;
    this.#overrides = overrides;
    this.#logger = logger;
  }

  /** The mTLS mode at start-up, for an inbound listener. */
  startTls(hasIdentity: boolean): void {
    this.tlsMode = this.#tlsModeOf(this.#started, hasIdentity);
  }

  /**
   * Checks a reloaded config's section (a problem refuses the whole reload, as for services) and
   * returns what applies it: createMesh's `prepareReload`.
   */
  prepare(config: MeshConfig, hasIdentity: boolean): () => void {
    const next = sidecarSettings(config.sidecar, this.#overrides);
    const tlsMode = this.#tlsModeOf(next, hasIdentity);
    const authorize = compileAuthorization(next.authorization);
    const pendingRestart = RESTART_ONLY.filter((field) => !isDeepStrictEqual(next[field], this.#started[field]));
    return () => {
      this.settings = { ...next, ...Object.fromEntries(RESTART_ONLY.map((field) => [field, this.#started[field]])) };
      this.authorize = authorize;
      this.tlsMode = tlsMode;
      this.pendingRestart = pendingRestart;
      if ('level' in this.#logger) (this.#logger as { level: string }).level = next.logLevel;
      if (pendingRestart.length > 0) this.#logger.warn('spec.sidecar changes that apply only after a restart', { fields: pendingRestart });
      this.#logger.info('sidecar policy reloaded', { authorizationRules: next.authorization.length, inboundTls: tlsMode });
    };
  }

  /** Strict by default with an identity; refused without one. */
  #tlsModeOf(settings: SidecarSettings, hasIdentity: boolean): InboundTlsMode {
    const mode = settings.inboundTls ?? (hasIdentity ? 'strict' : 'off');
    if (mode !== 'off' && !hasIdentity) {
      throw new MeshError('INVALID_CONFIG', `${this.#configFile}: spec.sidecar.inboundTls is ${mode}, but there is no spec.identity (certFile, keyFile, trustAnchorsFile) to serve it with`);
    }
    return mode;
  }
}

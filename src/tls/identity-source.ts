/**
 * This process's identity: a certificate chain, its key and the trust anchors, read from files
 * (a Kubernetes Secret volume, or what `mesh-sidecar identity issue` wrote) and read again when they
 * change, so a rotated certificate is used for new connections while established ones carry on.
 * A bad new set (unreadable, a key that does not match, no SPIFFE ID) is reported and the last good
 * one stays in use. A certificate near its end is warned about in the log (an expired one is an
 * error) and visible as a gauge, so rotation that silently stopped is noticed before traffic fails.
 * Validity is judged on the clock's wall time: certificates are dated, and a monotonic reading is not.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import { msUntil, systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { watchPaths } from '../core/watch-paths.js';
import { spiffeIdOfSubjectAltName } from './spiffe-id.js';

export interface IdentityFiles {
  /** PEM: this identity's certificate, then the intermediates up to (not including) the anchor. */
  certFile: string;
  keyFile: string;
  /** PEM: the trust anchors peers' certificates must chain to. */
  trustAnchorsFile: string;
}

export interface LoadedIdentity {
  readonly certPem: string;
  readonly keyPem: string;
  readonly trustAnchorsPem: string;
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** 1 for the first set loaded, +1 per rotation. */
  readonly version: number;
}

export interface IdentitySourceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Where the expiry gauge goes (the mesh's metrics registry). */
  registry?: Registry;
  /** Warn when less than this is left, ms. Default: a third of the certificate's lifetime. */
  warnBeforeMs?: number;
  pollIntervalMs?: number;
}

export class IdentitySource {
  readonly files: IdentityFiles;
  #current: LoadedIdentity;
  #lifetimeMs: number;
  readonly #listeners = new Set<(identity: LoadedIdentity) => void>();
  readonly #watcher: { close(): void };
  #expiryCheck: TimerHandle | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #warnBeforeMs: number | undefined;

  private constructor(files: IdentityFiles, first: LoadedIdentity & { lifetimeMs: number }, options: IdentitySourceOptions) {
    this.files = files;
    this.#current = first;
    this.#lifetimeMs = first.lifetimeMs;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#warnBeforeMs = options.warnBeforeMs;
    if (options.registry) {
      const current = () => this.#current;
      new Gauge({
        name: 'meshwork_identity_certificate_expiry_timestamp_seconds',
        help: 'When the certificate this process presents expires (Unix time); alert when it draws near.',
        labelNames: ['spiffe_id'],
        registers: [options.registry],
        collect() {
          this.reset();
          this.set({ spiffe_id: current().spiffeId }, current().notAfter.getTime() / 1000);
        },
      });
    }
    this.#watcher = watchPaths([files.certFile, files.keyFile, files.trustAnchorsFile], () => this.#reload(), {
      clock: this.#clock,
      debounceMs: 200,
      pollIntervalMs: options.pollIntervalMs ?? 5_000,
    });
    this.#checkExpiry();
  }

  /** Reads the files once; throws a MeshError naming the file and the problem. */
  static async load(files: IdentityFiles, options: IdentitySourceOptions = {}): Promise<IdentitySource> {
    return new IdentitySource(files, await readIdentity(files, 1), options);
  }

  /** The same, synchronously, for a start-up path that is synchronous (createMesh). */
  static loadSync(files: IdentityFiles, options: IdentitySourceOptions = {}): IdentitySource {
    const read = (path: string, what: string) => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw unreadable(path, what, err);
      }
    };
    const texts = { certPem: read(files.certFile, 'certificate'), keyPem: read(files.keyFile, 'key'), trustAnchorsPem: read(files.trustAnchorsFile, 'trust anchors') };
    return new IdentitySource(files, checkIdentity(files, texts, 1), options);
  }

  current(): LoadedIdentity {
    return this.#current;
  }

  /** Called after every rotation with the new identity. Returns an unsubscribe function. */
  onChange(listener: (identity: LoadedIdentity) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#watcher.close();
    this.#expiryCheck?.cancel();
  }

  async #reload(): Promise<void> {
    let next: LoadedIdentity & { lifetimeMs: number };
    try {
      next = await readIdentity(this.files, this.#current.version + 1);
    } catch (err) {
      this.#logger.error('the identity files changed but cannot be used; keeping the current certificate', { error: (err as Error).message });
      return;
    }
    const current = this.#current;
    if (next.certPem === current.certPem && next.keyPem === current.keyPem && next.trustAnchorsPem === current.trustAnchorsPem) return;
    this.#current = next;
    this.#lifetimeMs = next.lifetimeMs;
    this.#logger.info('identity rotated', { spiffeId: next.spiffeId, notAfter: next.notAfter.toISOString(), version: next.version });
    for (const listener of this.#listeners) listener(next);
    this.#checkExpiry();
  }

  /**
   * Why a new connection must not present the current certificate (expired, or not valid yet by this
   * machine's clock), as the TLS_FAILED error to fail it with; undefined when it is valid. Checked
   * here because a peer would only refuse it with a bare reset after the handshake.
   */
  validityError(): MeshError | undefined {
    const { spiffeId, notBefore, notAfter } = this.#current;
    const now = this.#clock.wallNow();
    if (msUntil(notAfter, now) <= 0) {
      return new MeshError('TLS_FAILED', `the local certificate ${spiffeId} expired at ${notAfter.toISOString()}; renew it (write the new certificate and key to ${this.files.certFile} and ${this.files.keyFile}; they are picked up without a restart)`);
    }
    if (msUntil(notBefore, now) > 0) {
      return new MeshError('TLS_FAILED', `the local certificate ${spiffeId} is not valid until ${notBefore.toISOString()}, and this machine's clock says ${new Date(now).toISOString()}; check the clock or the issuer`);
    }
    return undefined;
  }

  #checkExpiry(): void {
    this.#expiryCheck?.cancel();
    const { spiffeId, notAfter } = this.#current;
    const left = msUntil(notAfter, this.#clock.wallNow());
    const warnBefore = this.#warnBeforeMs ?? this.#lifetimeMs / 3;
    const fields = { spiffeId, notAfter: notAfter.toISOString(), secondsLeft: Math.round(left / 1000), certFile: this.files.certFile };
    if (left <= 0) this.#logger.error('the identity certificate has expired; peers refuse it and new mTLS connections fail until it is renewed', fields);
    else if (left <= warnBefore) this.#logger.warn('the identity certificate expires soon and has not been rotated', fields);
    // Checked again when the warning is due, then every minute (and at the moment of expiry) until a
    // rotation resets it. Timers run on monotonic time; each check reads the wall clock afresh.
    const next = left > warnBefore ? left - warnBefore : left > 0 ? Math.min(left, 60_000) : 60_000;
    this.#expiryCheck = this.#clock.setTimer(() => this.#checkExpiry(), Math.min(Math.max(next, 1_000), 2 ** 31 - 1));
  }
}

function unreadable(path: string, what: string, err: unknown): MeshError {
  return new MeshError('INVALID_CONFIG', `identity: cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
}

async function readIdentity(files: IdentityFiles, version: number): Promise<LoadedIdentity & { lifetimeMs: number }> {
  const read = (path: string, what: string) =>
    readFile(path, 'utf8').catch((err: unknown) => {
      throw unreadable(path, what, err);
    });
  const [certPem, keyPem, trustAnchorsPem] = await Promise.all([read(files.certFile, 'certificate'), read(files.keyFile, 'key'), read(files.trustAnchorsFile, 'trust anchors')]);
  return checkIdentity(files, { certPem, keyPem, trustAnchorsPem }, version);
}

function checkIdentity(files: IdentityFiles, texts: { certPem: string; keyPem: string; trustAnchorsPem: string }, version: number): LoadedIdentity & { lifetimeMs: number } {
  const { certPem, keyPem, trustAnchorsPem } = texts;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
    new X509Certificate(trustAnchorsPem);
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `identity: ${files.certFile} or ${files.trustAnchorsFile} is not a PEM certificate (${(err as Error).message})`);
  }
  let keyMatches: boolean;
  try {
    keyMatches = leaf.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `identity: ${files.keyFile} is not a PEM private key (${(err as Error).message})`);
  }
  if (!keyMatches) throw new MeshError('INVALID_CONFIG', `identity: the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`);
  const spiffeId = spiffeIdOfSubjectAltName(leaf.subjectAltName);
  if (spiffeId === undefined) {
    throw new MeshError('INVALID_CONFIG', `identity: the certificate in ${files.certFile} has no single spiffe:// URI SAN (it has ${leaf.subjectAltName ?? 'no subjectAltName'})`);
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  return { certPem, keyPem, trustAnchorsPem, spiffeId, notBefore, notAfter, version, lifetimeMs: notAfter.getTime() - notBefore.getTime() };
}

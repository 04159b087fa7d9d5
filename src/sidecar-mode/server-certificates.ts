/**
 * The gateway's server certificates, one per set of hosts, chosen per connection by the name the
 * client sent in SNI: an exact host first, then the longest wildcard (`*.example.com`), then `*`;
 * a client that sends no name, or one no certificate covers, gets the first certificate. The files
 * are watched like the identity's (Kubernetes Secrets are swapped by renaming): a certificate that
 * changes is used for new connections, and one that changes into something unusable (unreadable,
 * not PEM, a key that does not belong to it) is logged with the field it came from, while the last
 * good one keeps serving.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Clock } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { watchPaths } from '../core/watch-paths.js';
import type { GatewayCertificate } from '../config/gateway-schema.js';
import { hostMatches } from '../config/host-pattern.js';

export interface LoadedCertificate {
  readonly hosts: string[];
  readonly certPem: string;
  readonly keyPem: string;
  readonly context: SecureContext;
  readonly subject: string;
  readonly notAfter: Date;
}

interface Slot {
  readonly written: GatewayCertificate;
  readonly certFile: string;
  readonly keyFile: string;
  current: LoadedCertificate;
}

export interface ServerCertificatesOptions {
  /** The config file's directory: relative certFile / keyFile paths are against it. */
  baseDir: string;
  clock: Clock;
  logger: Logger;
  pollIntervalMs?: number;
}

export class ServerCertificates {
  readonly #slots: Slot[];
  readonly #watcher: { close(): Promise<void> };
  readonly #logger: Logger;
  readonly #listeners = new Set<() => void>();

  /** Reads every certificate once; throws INVALID_CONFIG naming the file, line and field of the first bad one. */
  constructor(certificates: GatewayCertificate[], options: ServerCertificatesOptions) {
    this.#logger = options.logger;
    this.#slots = certificates.map((written) => {
      const certFile = resolve(options.baseDir, written.certFile);
      const keyFile = resolve(options.baseDir, written.keyFile);
      return { written, certFile, keyFile, current: loadCertificate(written, certFile, keyFile) };
    });
    for (const slot of this.#slots) {
      if (slot.current.notAfter.getTime() <= options.clock.wallNow()) {
        options.logger.warn('a gateway certificate has expired; clients will refuse it', { hosts: slot.written.hosts, certFile: slot.certFile, notAfter: slot.current.notAfter.toISOString() });
      }
    }
    this.#watcher = watchPaths(this.#slots.flatMap((s) => [s.certFile, s.keyFile]), async () => this.#reload(), {
      clock: options.clock,
      debounceMs: 200,
      pollIntervalMs: options.pollIntervalMs ?? 5_000,
    });
  }

  /** The certificate for connections that name no host (or one no certificate covers). */
  get fallback(): LoadedCertificate {
    return this.#slots[0]!.current;
  }

  /** The certificate a client naming `servername` in SNI gets. */
  forServerName(servername: string | undefined): LoadedCertificate {
    if (!servername) return this.fallback;
    const name = servername.toLowerCase().replace(/\.$/, '');
    let best: { slot: Slot; rank: number } | undefined;
    for (const slot of this.#slots) {
      for (const pattern of slot.current.hosts) {
        if (!hostMatches(pattern, name)) continue;
        // Exact beats any wildcard; a longer wildcard is more specific than a shorter one; `*` is last.
        const rank = pattern === name ? Number.MAX_SAFE_INTEGER : pattern === '*' ? 0 : pattern.length;
        if (best === undefined || rank > best.rank) best = { slot, rank };
      }
    }
    return (best?.slot ?? this.#slots[0]!).current;
  }

  /** For tls.Server's SNICallback. */
  readonly sniCallback = (servername: string, callback: (err: Error | null, context?: SecureContext) => void): void => {
    callback(null, this.forServerName(servername).context);
  };

  /** Called after any certificate was replaced (the server's default context must follow the fallback). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    return this.#watcher.close();
  }

  #reload(): void {
    let changed = false;
    for (const slot of this.#slots) {
      let next: LoadedCertificate;
      try {
        next = loadCertificate(slot.written, slot.certFile, slot.keyFile);
      } catch (err) {
        this.#logger.error('a gateway certificate changed but cannot be used; keeping the last good one', { hosts: slot.written.hosts, error: (err as Error).message });
        continue;
      }
      if (next.certPem === slot.current.certPem && next.keyPem === slot.current.keyPem) continue;
      slot.current = next;
      changed = true;
      this.#logger.info('gateway certificate reloaded', { hosts: next.hosts, subject: next.subject, notAfter: next.notAfter.toISOString(), certFile: slot.certFile });
    }
    if (changed) for (const listener of this.#listeners) listener();
  }
}

function loadCertificate(written: GatewayCertificate, certFile: string, keyFile: string): LoadedCertificate {
  const read = (path: string, where: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new MeshError('INVALID_CONFIG', `${where}: cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const certPem = read(certFile, written.where.certFile, 'certificate');
  const keyPem = read(keyFile, written.where.keyFile, 'key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `${written.where.certFile}: ${certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `${written.where.keyFile}: ${keyFile} is not a PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new MeshError('INVALID_CONFIG', `${written.where.keyFile}: the key in ${keyFile} does not belong to the certificate in ${certFile}`);
  let context: SecureContext;
  try {
    // The whole file: the leaf followed by its intermediates, sent as the chain.
    context = createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `${written.where.certFile}: ${certFile} cannot be served (${(err as Error).message})`);
  }
  return { hosts: written.hosts, certPem, keyPem, context, subject: (leaf.subject ?? '').replace(/\n/g, ', '), notAfter: new Date(leaf.validTo) };
}

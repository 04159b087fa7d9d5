/**
 * `mesh-sidecar check`, after `linkerd check`: a list of checks in categories, each √ (passed),
 * ‼ (a warning: works, but look) or × (failed) with the reason and a hint below, then
 * `Status check results are √` or `×`; -o json is linkerd's JSON shape. Exit 1 when one failed.
 *
 * With --config the file must load, discovery must answer for every service, and the identity
 * certificate (spec.identity) must chain to the trust anchors, be valid now and not be near its end.
 * Unless --pre, the running sidecar's admin port must answer, the sidecar be ready, its listeners
 * take connections and its config have no error.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { systemClock } from '../../core/clock.js';
import { silentLogger } from '../../core/logger.js';
import { formatHostPort, parseHostPort, type HostPort } from '../../config/listen-address.js';
import { loadMeshConfig, type MeshConfig } from '../../config/mesh-config.js';
import { sidecarSettings } from '../../config/sidecar-schema.js';
import { resolverFromSpec, type DiscoverySpec } from '../../discovery/parse-discovery.js';
import { IdentitySource, type LoadedIdentity } from '../../tls/identity-source.js';
import { DEFAULT_ADMIN, type Output } from '../cli-args.js';
import { AdminUnavailable, getAdminJson, getAdminText } from './admin-client.js';
import type { CommandIo } from './command-io.js';

export interface CheckOptions {
  output: Output;
  config?: string;
  admin?: HostPort;
  pre: boolean;
  timeoutMs: number;
}

export type CheckResult = 'success' | 'warning' | 'error';

export interface Check {
  description: string;
  result: CheckResult;
  error?: string;
  hint?: string;
}

export interface CheckCategory {
  categoryName: string;
  checks: Check[];
}

const MARK: Record<CheckResult, string> = { success: '√', warning: '‼', error: '×' };

export async function checkCommand(options: CheckOptions, io: CommandIo): Promise<number> {
  const categories: CheckCategory[] = [];
  let config: MeshConfig | undefined;
  if (options.config !== undefined) {
    const checks: Check[] = [];
    categories.push({ categoryName: 'meshwork-config', checks });
    try {
      config = await loadMeshConfig(options.config);
      const count = Object.keys(config.services).length;
      checks.push({ description: `the config file loads (${count} service${count === 1 ? '' : 's'})`, result: 'success' });
    } catch (err) {
      checks.push({ description: 'the config file loads', result: 'error', error: (err as Error).message, hint: 'fix the lines above; the sidecar refuses to start with this file, and keeps its last good config if it is running' });
    }
    if (config) {
      const baseDir = dirname(resolve(options.config));
      checks.push(...(await Promise.all(Object.entries(config.services).map(([name, settings]) => checkDiscovery(name, (settings.endpoints ?? settings.discovery) as DiscoverySpec, baseDir, options.timeoutMs)))));
      if (config.identity) categories.push({ categoryName: 'meshwork-identity', checks: await checkIdentity(config, baseDir) });
    }
  }
  if (!options.pre) {
    const admin = options.admin ?? (config ? sidecarSettings(config.sidecar).admin : undefined) ?? (parseHostPort(DEFAULT_ADMIN) as HostPort);
    categories.push({ categoryName: 'meshwork-sidecar', checks: await checkSidecar(admin, options.timeoutMs) });
  }
  const success = categories.every((c) => c.checks.every((check) => check.result !== 'error'));
  if (options.output === 'json') io.out(`${JSON.stringify({ success, categories }, null, 2)}\n`);
  else io.out(renderChecks(categories, success));
  return success ? 0 : 1;
}

export function renderChecks(categories: CheckCategory[], success: boolean): string {
  const lines: string[] = [];
  for (const category of categories) {
    lines.push(category.categoryName, '-'.repeat(category.categoryName.length));
    for (const check of category.checks) {
      lines.push(`${MARK[check.result]} ${check.description}`);
      for (const line of (check.error ?? '').split('\n').filter(Boolean)) lines.push(`    ${line}`);
      if (check.hint && check.result !== 'success') lines.push(`    hint: ${check.hint}`);
    }
    lines.push('');
  }
  lines.push(`Status check results are ${success ? '√' : '×'}`);
  return `${lines.join('\n')}\n`;
}

/** Starts the service's resolver and waits for its first answer. */
async function checkDiscovery(service: string, spec: DiscoverySpec, baseDir: string, timeoutMs: number): Promise<Check> {
  const description = `discovery answers for ${service}`;
  let resolver;
  try {
    resolver = resolverFromSpec(spec, { clock: systemClock, logger: silentLogger, service, baseDir });
  } catch (err) {
    return { description, result: 'error', error: (err as Error).message };
  }
  const source = resolver.description;
  const answer = await new Promise<{ endpoints: number } | { error: string }>((done) => {
    const timer = setTimeout(() => done({ error: `${source}: no answer within ${timeoutMs} ms` }), timeoutMs);
    resolver.start({
      onEndpoints: (set) => {
        clearTimeout(timer);
        done({ endpoints: set.length });
      },
      onError: (error) => {
        clearTimeout(timer);
        done({ error: `${source}: ${error.message}` });
      },
    });
  });
  await resolver.close();
  if ('error' in answer) return { description, result: 'error', error: answer.error, hint: 'requests to this service fail with DISCOVERY_TIMEOUT or NO_ENDPOINTS until it answers' };
  if (answer.endpoints === 0) return { description: `${description}: no endpoints`, result: 'warning', error: `${source} lists no endpoint`, hint: 'requests to this service fail with NO_ENDPOINTS' };
  return { description: `${description} (${answer.endpoints} endpoint${answer.endpoints === 1 ? '' : 's'}, ${source})`, result: 'success' };
}

async function checkIdentity(config: MeshConfig, baseDir: string): Promise<Check[]> {
  const section = config.identity!;
  const files = { certFile: resolve(baseDir, section.certFile), keyFile: resolve(baseDir, section.keyFile), trustAnchorsFile: resolve(baseDir, section.trustAnchorsFile) };
  let source: IdentitySource;
  try {
    source = await IdentitySource.load(files, { logger: silentLogger });
  } catch (err) {
    return [{ description: 'the certificate, key and trust anchors load', result: 'error', error: (err as Error).message }];
  }
  try {
    const identity = source.current();
    const checks: Check[] = [{ description: `the certificate, key and trust anchors load (${identity.spiffeId})`, result: 'success' }];
    const chain = chainProblem(identity);
    checks.push(chain === undefined ? { description: 'the certificate chains to the trust anchors', result: 'success' } : { description: 'the certificate chains to the trust anchors', result: 'error', error: chain, hint: 'peers will refuse this certificate; issue it from the CA whose ca.crt is the trust anchors file' });
    const invalid = source.validityError();
    checks.push(invalid === undefined ? { description: 'the certificate is valid now', result: 'success' } : { description: 'the certificate is valid now', result: 'error', error: invalid.message });
    if (invalid === undefined) {
      const leftMs = identity.notAfter.getTime() - Date.now();
      const warnBeforeMs = section.expiryWarning ?? (identity.notAfter.getTime() - identity.notBefore.getTime()) / 3;
      const description = 'the certificate is not near its end';
      checks.push(
        leftMs > warnBeforeMs
          ? { description: `${description} (expires ${identity.notAfter.toISOString()})`, result: 'success' }
          : { description, result: 'warning', error: `it expires in ${formatSpan(leftMs)}, at ${identity.notAfter.toISOString()}`, hint: `renew it: write the new certificate and key to ${files.certFile} and ${files.keyFile}; they are picked up without a restart` },
      );
    }
    return checks;
  } finally {
    source.close();
  }
}

/** Why the certificate chain does not lead to one of the trust anchors; undefined when it does. */
function chainProblem(identity: LoadedIdentity): string | undefined {
  const chain = pemBlocks(identity.certPem).map((pem) => new X509Certificate(pem));
  const anchors = pemBlocks(identity.trustAnchorsPem).map((pem) => new X509Certificate(pem));
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) return `certificate ${i + 1} of the chain (${chain[i]!.subject || chain[i]!.subjectAltName}) is not signed by the next one (${chain[i + 1]!.subject})`;
  }
  const last = chain[chain.length - 1]!;
  if (anchors.some((anchor) => anchor.fingerprint256 === last.fingerprint256 || (last.checkIssued(anchor) && last.verify(anchor.publicKey)))) return undefined;
  return `the chain ends at ${last.issuer.replace(/\n/g, ', ')}, which is not one of the trust anchors (${anchors.map((a) => a.subject.replace(/\n/g, ', ')).join('; ')})`;
}

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

interface RunningConfig {
  configError: string | null;
  sidecar: { outbound: string; inbound: string; admin: string; pendingRestart: string[] };
}

async function checkSidecar(admin: HostPort, timeoutMs: number): Promise<Check[]> {
  const where = formatHostPort(admin);
  const checks: Check[] = [];
  try {
    await getAdminText(admin, '/live', timeoutMs);
    checks.push({ description: `the admin port answers at ${where}`, result: 'success' });
  } catch (err) {
    return [{ description: `the admin port answers at ${where}`, result: 'error', error: (err as Error).message, hint: 'start the sidecar, or give --admin with the address of its admin port (--pre checks the config alone)' }];
  }
  try {
    await getAdminText(admin, '/ready', timeoutMs);
    checks.push({ description: 'the sidecar is ready', result: 'success' });
  } catch (err) {
    checks.push({ description: 'the sidecar is ready', result: 'error', error: (err as Error).message, hint: 'a sidecar that is draining (SIGTERM) is not ready' });
  }
  let running: RunningConfig;
  try {
    running = await getAdminJson<RunningConfig>(admin, '/config', timeoutMs);
  } catch (err) {
    checks.push({ description: 'the running config can be read', result: 'error', error: (err as AdminUnavailable).message });
    return checks;
  }
  for (const listener of ['outbound', 'inbound'] as const) {
    const address = running.sidecar[listener];
    if (address === 'off') continue;
    const problem = await connectProblem(address, timeoutMs);
    checks.push(problem === undefined ? { description: `the ${listener} listener takes connections at ${address}`, result: 'success' } : { description: `the ${listener} listener takes connections at ${address}`, result: 'error', error: problem });
  }
  checks.push(
    running.configError === null
      ? { description: 'the running config has no error', result: 'success' }
      : { description: 'the running config has no error', result: 'error', error: running.configError, hint: 'the sidecar runs its last good config until the file is fixed' },
  );
  checks.push(
    running.sidecar.pendingRestart.length === 0
      ? { description: 'no spec.sidecar change waits for a restart', result: 'success' }
      : { description: 'no spec.sidecar change waits for a restart', result: 'warning', error: `changed in the file but applied only after a restart: ${running.sidecar.pendingRestart.join(', ')}`, hint: 'restart the sidecar to apply them' },
  );
  return checks;
}

function connectProblem(address: string, timeoutMs: number): Promise<string | undefined> {
  const parsed = parseHostPort(address) as HostPort;
  // A listener on every interface is reached on loopback.
  const host = parsed.host === '0.0.0.0' ? '127.0.0.1' : parsed.host === '::' ? '::1' : parsed.host;
  return new Promise((done) => {
    const socket = connect({ host, port: parsed.port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      done(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      done(`no connection within ${timeoutMs} ms`);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => done(`cannot connect: ${err.code ?? err.message}`));
  });
}

function formatSpan(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h ${minutes % 60}m` : `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

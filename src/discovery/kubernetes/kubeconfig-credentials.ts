/**
 * Credentials from a kubeconfig, as kubectl reads one: the current context (or a named one) picks a
 * cluster (server, CA, TLS options) and a user (a token, a token file, or a client certificate and
 * key). Several files (KUBECONFIG=a:b) merge as kubectl merges them: the first file to define a
 * name, or current-context, wins. Paths inside a file are relative to that file.
 *
 * exec plugins and auth providers (cloud logins) are refused with a clear message rather than half
 * supported: they run other programs and cache tokens, which a mesh proxy should not do. A
 * service-account token in a kubeconfig covers clusters reached from outside.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import type { KubeCredentials, KubeTls } from './kube-credentials.js';

interface Named<T> {
  value: T;
  /** The file that defined it, against which its relative paths resolve. */
  file: string;
}

interface Merged {
  currentContext?: string;
  clusters: Map<string, Named<Record<string, unknown>>>;
  users: Map<string, Named<Record<string, unknown>>>;
  contexts: Map<string, Named<Record<string, unknown>>>;
}

export function kubeconfigCredentials(files: readonly string[], contextName?: string): KubeCredentials {
  const merged = mergeFiles(files);
  const where = files.length === 1 ? files[0]! : `KUBECONFIG (${files.join(':')})`;
  const name = contextName ?? merged.currentContext;
  if (!name) throw new Error(`${where}: no current-context is set; give a context or run \`kubectl config use-context <name>\``);
  const context = merged.contexts.get(name);
  if (!context) throw new Error(`${where}: there is no context "${name}"; contexts: ${[...merged.contexts.keys()].join(', ') || '(none)'}`);
  const clusterName = context.value.cluster;
  const userName = context.value.user;
  const cluster = typeof clusterName === 'string' ? merged.clusters.get(clusterName) : undefined;
  if (!cluster) throw new Error(`${where}: context "${name}" names cluster ${JSON.stringify(clusterName)}, which is not defined`);
  const user = typeof userName === 'string' ? merged.users.get(userName) : undefined;
  if (userName !== undefined && !user) throw new Error(`${where}: context "${name}" names user ${JSON.stringify(userName)}, which is not defined`);

  const server = cluster.value.server;
  if (typeof server !== 'string' || !/^https?:\/\//.test(server)) {
    throw new Error(`${cluster.file}: cluster "${clusterName}": server must be an https:// (or http://) URL, got ${JSON.stringify(server)}`);
  }
  const label = `cluster "${clusterName}"`;
  const userLabel = `user "${userName}"`;
  const tls: { -readonly [K in keyof KubeTls]: KubeTls[K] } = {};
  const ca = pem(cluster, 'certificate-authority', label);
  if (ca) tls.ca = ca;
  if (cluster.value['insecure-skip-tls-verify'] === true) tls.insecureSkipVerify = true;
  if (typeof cluster.value['tls-server-name'] === 'string') tls.serverName = cluster.value['tls-server-name'];

  let token: () => Promise<string | undefined> = async () => undefined;
  if (user) {
    for (const unsupported of ['exec', 'auth-provider']) {
      if (user.value[unsupported] !== undefined) {
        throw new Error(`${user.file}: ${userLabel} logs in through ${unsupported}, which meshwork does not run; give the user a token (e.g. a service account's) or a client certificate`);
      }
    }
    const cert = pem(user, 'client-certificate', userLabel);
    const key = pem(user, 'client-key', userLabel);
    if ((cert === undefined) !== (key === undefined)) throw new Error(`${user.file}: ${userLabel} has a client certificate without its key, or a key without its certificate`);
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    if (typeof user.value.token === 'string' && user.value.token !== '') {
      const fixed = user.value.token;
      token = async () => fixed;
    } else if (typeof user.value.tokenFile === 'string') {
      const path = pathIn(user, user.value.tokenFile);
      readOrExplain(path, `${user.file}: ${userLabel}: tokenFile`);
      token = async () => (await readFile(path, 'utf8')).trim();
    }
  }
  const namespace = typeof context.value.namespace === 'string' && context.value.namespace !== '' ? context.value.namespace : 'default';
  return { server: server.replace(/\/+$/, ''), source: `kubeconfig ${where}, context "${name}"`, namespace, tls, token };
}

function mergeFiles(files: readonly string[]): Merged {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const file of files) {
    const path = resolve(file);
    let doc: unknown;
    try {
      doc = parse(readOrExplain(path, 'kubeconfig'));
    } catch (err) {
      throw new Error(`${path}: not a valid kubeconfig: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc === null || typeof doc !== 'object') throw new Error(`${path}: not a valid kubeconfig: expected a mapping with clusters, users and contexts`);
    const config = doc as Record<string, unknown>;
    if (merged.currentContext === undefined && typeof config['current-context'] === 'string' && config['current-context'] !== '') {
      merged.currentContext = config['current-context'];
    }
    collect(config.clusters, 'cluster', path, merged.clusters);
    collect(config.users, 'user', path, merged.users);
    collect(config.contexts, 'context', path, merged.contexts);
  }
  return merged;
}

function collect(list: unknown, field: string, file: string, into: Map<string, Named<Record<string, unknown>>>): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw new Error(`${file}: ${field}s must be a list`);
  for (const [i, entry] of list.entries()) {
    const name = (entry as { name?: unknown } | null)?.name;
    const value = (entry as Record<string, unknown> | null)?.[field];
    if (typeof name !== 'string' || value === null || typeof value !== 'object') {
      throw new Error(`${file}: ${field}s[${i}] needs a name and a ${field} mapping`);
    }
    if (!into.has(name)) into.set(name, { value: value as Record<string, unknown>, file });
  }
}

/** A PEM given inline (`<field>-data`, base64) or as a file (`<field>`). */
function pem(entry: Named<Record<string, unknown>>, field: string, label: string): string | undefined {
  const inline = entry.value[`${field}-data`];
  if (typeof inline === 'string' && inline !== '') {
    const text = Buffer.from(inline, 'base64').toString('utf8');
    if (!text.includes('-----BEGIN')) throw new Error(`${entry.file}: ${label}: ${field}-data is not base64 of a PEM block`);
    return text;
  }
  const path = entry.value[field];
  if (typeof path !== 'string' || path === '') return undefined;
  return readOrExplain(pathIn(entry, path), `${entry.file}: ${label}: ${field}`);
}

function pathIn(entry: Named<unknown>, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(entry.file), path);
}

function readOrExplain(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

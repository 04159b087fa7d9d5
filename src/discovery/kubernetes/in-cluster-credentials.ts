/**
 * A pod's own identity: the service-account token, the cluster CA and the pod's namespace, mounted
 * by kubelet under /var/run/secrets/kubernetes.io/serviceaccount/, and the API server's address in
 * KUBERNETES_SERVICE_HOST/PORT (what client-go's InClusterConfig reads).
 *
 * The token is a projected token that kubelet replaces before it expires, by swapping a symlink in
 * that directory; reading the file again for each request is what picks up the new one. Requests
 * are rare (a list, then a watch that lasts minutes), so the read costs nothing that matters.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeCredentials } from './kube-credentials.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function inClusterCredentials(options: { env: NodeJS.ProcessEnv; dir: string }): KubeCredentials {
  const { env, dir } = options;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  if (!host) throw new Error('not in a pod: KUBERNETES_SERVICE_HOST is not set');
  const tokenFile = join(dir, 'token');
  const read = (name: string, what: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      throw new Error(
        `in-cluster credentials: cannot read the ${what} ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? 'error'}); is a service account token mounted (automountServiceAccountToken)?`,
      );
    }
  };
  // Read now so that a pod without a mounted token fails at start-up, not on the first watch.
  read('token', 'service-account token');
  const ca = read('ca.crt', 'cluster CA');
  let namespace = 'default';
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || 'default';
  } catch {
    // Older clusters mount no namespace file; the default namespace is then the right guess.
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    source: `in-cluster service account (${dir})`,
    namespace,
    tls: { ca },
    async token() {
      try {
        return (await readFile(tokenFile, 'utf8')).trim();
      } catch (err) {
        throw new Error(`in-cluster credentials: cannot read the service-account token ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    },
  };
}

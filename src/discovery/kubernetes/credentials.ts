/**
 * How meshwork reaches a Kubernetes API server and proves who it is. Inside a pod that is the pod's
 * service account; outside, the current context of a kubeconfig, as kubectl does. The files are read
 * when the credentials are made, so a mistake (no kubeconfig, an unknown context, an exec plugin)
 * fails the configuration at once instead of surfacing later as endpoints that never come; only the
 * bearer token is read again for every request, because kubelet rotates projected service-account
 * tokens in place (about hourly) and an old one stops working.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inClusterCredentials, SERVICE_ACCOUNT_DIR } from './in-cluster-credentials.js';
import { kubeconfigCredentials } from './kubeconfig-credentials.js';

export interface KubeTls {
  /** PEM trust anchors for the API server's certificate; Node's defaults without it. */
  readonly ca?: string;
  /** PEM client certificate and key (kubeconfig users that authenticate by certificate). */
  readonly cert?: string;
  readonly key?: string;
  /** kubeconfig's insecure-skip-tls-verify. */
  readonly insecureSkipVerify?: boolean;
  /** kubeconfig's tls-server-name: the name to verify instead of the server URL's host. */
  readonly serverName?: string;
}

export interface KubeCredentials {
  /** The API server's origin, e.g. `https://10.96.0.1:443`. */
  readonly server: string;
  /** Where these came from, for errors and logs (never the secret itself). */
  readonly source: string;
  /** The namespace a name without one belongs to: the pod's, or the context's, else `default`. */
  readonly namespace: string;
  readonly tls: KubeTls;
  /** The bearer token to send now, if this identity uses one. */
  token(): Promise<string | undefined>;
}

export interface CredentialOptions {
  /** A kubeconfig file to use, whatever the environment says. */
  kubeconfig?: string;
  /** A context of that kubeconfig other than its current-context. */
  context?: string;
  /** The environment to read KUBERNETES_SERVICE_HOST/PORT, KUBECONFIG and HOME from. */
  env?: NodeJS.ProcessEnv;
  /** Where the service account is mounted (tests point this elsewhere). */
  serviceAccountDir?: string;
}

/**
 * In a pod (KUBERNETES_SERVICE_HOST is set) the service account, else `KUBECONFIG` (a list of files
 * separated by ':') or `~/.kube/config`. An explicit `kubeconfig` wins over both.
 */
export function loadCredentials(options: CredentialOptions = {}): KubeCredentials {
  const env = options.env ?? process.env;
  if (options.kubeconfig) return kubeconfigCredentials([options.kubeconfig], options.context);
  if (env.KUBERNETES_SERVICE_HOST && !options.context) {
    return inClusterCredentials({ env, dir: options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR });
  }
  const fromEnv = env.KUBECONFIG?.split(':').filter((p) => p !== '');
  if (fromEnv && fromEnv.length > 0) return kubeconfigCredentials(fromEnv, options.context);
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (!existsSync(home)) {
    throw new Error(
      `no Kubernetes credentials: not in a pod (KUBERNETES_SERVICE_HOST is not set), KUBECONFIG is not set and ${home} does not exist; run inside a cluster, or give a kubeconfig`,
    );
  }
  return kubeconfigCredentials([home], options.context);
}

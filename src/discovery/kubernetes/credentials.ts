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

export type { KubeCredentials, KubeTls } from './kube-credentials.js';
import type { KubeCredentials } from './kube-credentials.js';

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

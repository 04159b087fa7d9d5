/**
 * What talking to an API server takes: where it is, how to trust it, and who we are. Made by
 * credentials.ts from a pod's service account or a kubeconfig.
 */

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

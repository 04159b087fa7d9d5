/**
 * The `k8s:` discovery string: `k8s:<service>.<namespace>:<port name or number>`, as a Service is
 * named inside a cluster. The cluster-domain form (`reviews.default.svc.cluster.local:http`) is
 * accepted too, and without a namespace (`k8s:reviews:http`) the credentials' namespace is meant
 * (the pod's own, or the kubeconfig context's).
 */
export interface KubernetesTarget {
  service: string;
  namespace?: string;
  /** A Service port name (looked up in each EndpointSlice) or the endpoints' port number. */
  port: string | number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SERVICE_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
// IANA service names, which Kubernetes port names are: up to 15 characters, with a letter.
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function parseKubernetesTarget(text: string): KubernetesTarget {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new Error(`"k8s:${text}" needs a port: k8s:<service>.<namespace>:<port name or number>, e.g. k8s:reviews.default:http`);
  const name = text.slice(0, colon).replace(/\.svc(\.[a-z0-9.-]*)?$/, '');
  const [service = '', namespace, ...rest] = name.split('.');
  if (rest.length > 0) throw new Error(`"k8s:${text}": expected <service>.<namespace>, got ${JSON.stringify(name)}`);
  const target: KubernetesTarget = { service, port: checkPort(text.slice(colon + 1)) };
  checkService(service);
  if (namespace !== undefined) target.namespace = checkNamespace(namespace);
  return target;
}

export function checkService(service: unknown): string {
  if (typeof service !== 'string' || service.length > 63 || !SERVICE_NAME.test(service)) {
    throw new Error(`service ${JSON.stringify(service)} is not a Kubernetes Service name (lower-case letters, digits and '-', starting with a letter, at most 63)`);
  }
  return service;
}

export function checkNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    throw new Error(`namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)`);
  }
  return namespace;
}

export function checkPort(port: unknown): string | number {
  if (typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port))) {
    const n = Number(port);
    if (Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  } else if (typeof port === 'string' && port.length <= 15 && PORT_NAME.test(port)) {
    return port;
  }
  throw new Error(`port ${JSON.stringify(port)} is neither a port number (1 to 65535) nor a Kubernetes port name such as "http"`);
}

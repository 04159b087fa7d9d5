/**
 * Objects for the fake API server as the cluster's controllers write them: EndpointSlices that the
 * endpointslice controller keeps for a Service, and credentials pointing at the fake.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeCredentials } from '../../src/discovery/kubernetes/credentials.js';
import type { FakeKubeApi, KubeObjectInput } from './fake-kube-api.js';

export interface SliceEndpointSpec {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

/** One EndpointSlice of `service` with the endpoints given (ready unless said otherwise) on the named port. */
export function endpointSlice(service: string, name: string, endpoints: (string | SliceEndpointSpec)[], port: { name?: string; port: number } = { name: 'http', port: 8080 }, namespace = 'default'): KubeObjectInput {
  return {
    metadata: {
      name,
      namespace,
      generateName: `${service}-`,
      labels: { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', 'kubernetes.io/service-name': service },
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => {
      const spec = typeof e === 'string' ? { ip: e } : e;
      const ready = spec.ready ?? true;
      return {
        addresses: [spec.ip],
        conditions: { ready, serving: spec.serving ?? ready, terminating: spec.terminating ?? false },
        targetRef: { kind: 'Pod', namespace, name: `${service}-${spec.ip.replace(/[.:]/g, '-')}` },
      };
    }),
    ports: [{ ...(port.name === undefined ? {} : { name: port.name }), protocol: 'TCP', port: port.port }],
  };
}

/** Plain-HTTP or TLS credentials for the fake, with a fixed or changing token. */
export function fakeCredentials(api: FakeKubeApi, options: { token?: string | (() => string); ca?: string } = {}): KubeCredentials {
  const token = options.token;
  return {
    server: api.url,
    source: 'test',
    namespace: 'default',
    tls: options.ca ? { ca: options.ca } : {},
    token: async () => (typeof token === 'function' ? token() : token),
  };
}

/** A kubeconfig whose current context reaches the fake: its CA and a bearer token (or a token file). */
export function writeKubeconfig(dir: string, api: FakeKubeApi, options: { caPem?: string; token?: string; tokenFile?: string; namespace?: string }): string {
  const user = options.tokenFile ? `{ tokenFile: "${options.tokenFile}" }` : options.token ? `{ token: "${options.token}" }` : '{}';
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'current-context: test',
    'clusters:',
    `  - name: fake`,
    `    cluster: { server: "${api.url}"${options.caPem ? `, certificate-authority-data: ${Buffer.from(options.caPem).toString('base64')}` : ''} }`,
    'users:',
    `  - name: tester`,
    `    user: ${user}`,
    'contexts:',
    `  - name: test`,
    `    context: { cluster: fake, user: tester, namespace: ${options.namespace ?? 'default'} }`,
    '',
  ].join('\n');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, text);
  return path;
}

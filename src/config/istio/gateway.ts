/**
 * Istio's `kind: Gateway` (networking.istio.io v1, v1beta1, v1alpha3) as the gateway section the
 * sidecar runs (config/gateway-schema.ts), for the sidecar that loads it (`selector` is accepted and
 * not read: the process given this file is the gateway):
 *
 * - `servers[]` with `port.protocol: HTTPS` and `tls.mode: SIMPLE` become the HTTPS listener
 *   (0.0.0.0:<port.number>; every HTTPS server shares one port) and one certificate per server for
 *   its `hosts` (a `namespace/` prefix is dropped). The certificate is `tls.serverCertificate` and
 *   `tls.privateKey` (files), or `tls.credentialName` read from a directory: the Gateway's
 *   `meshwork.io/cert-dir` annotation names a directory holding `<credentialName>/tls.crt` and
 *   `<credentialName>/tls.key`, the layout of a `kubernetes.io/tls` Secret mounted as a volume.
 * - A server with `port.protocol: HTTP` becomes the plain HTTP listener; `tls.httpsRedirect: true`
 *   makes it redirect (308) to HTTPS, otherwise it serves the routes.
 * - Routes come from VirtualServices that name the Gateway in `gateways:` (gateway-virtual-services.ts).
 *
 * Fields meshwork cannot honour (other TLS modes, client certificates, cipher choices) are refused
 * with the reason.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { hostPatternSchema } from '../host-pattern.js';
import type { GatewayCertificate, GatewaySection } from '../gateway-schema.js';
import { istioApiVersion, istioMetadata, unsupported } from './istio-fields.js';

export const CERT_DIR_ANNOTATION = 'meshwork.io/cert-dir';

/** `namespace/host` (Istio's scoping of a Gateway's hosts) or a bare host; the namespace is dropped. */
const serverHost = z.string().transform((host) => host.slice(host.indexOf('/') + 1)).pipe(hostPatternSchema);

const serverTls = z
  .object({
    mode: z.string().refine((mode) => mode === 'SIMPLE', 'only SIMPLE is supported by meshwork (TLS terminated with a server certificate); PASSTHROUGH, MUTUAL, ISTIO_MUTUAL and the others are not').optional(),
    credentialName: z.string().min(1).optional(),
    serverCertificate: z.string().min(1).optional(),
    privateKey: z.string().min(1).optional(),
    httpsRedirect: z.boolean().optional(),
    caCertificates: unsupported('client certificates at the gateway'),
    subjectAltNames: unsupported('client certificates at the gateway'),
    verifyCertificateSpki: unsupported('client certificates at the gateway'),
    verifyCertificateHash: unsupported('client certificates at the gateway'),
    credentialNames: unsupported('several credentials per server (give one credentialName)'),
    minProtocolVersion: unsupported('choosing TLS versions (TLS 1.2 and 1.3 are served)'),
    maxProtocolVersion: unsupported('choosing TLS versions (TLS 1.2 and 1.3 are served)'),
    cipherSuites: unsupported("choosing cipher suites (Node's defaults are served)"),
  })
  .strict();

const server = z
  .object({
    port: z
      .object({
        number: z.number().int().min(1, 'expected a port from 1 to 65535').max(65535, 'expected a port from 1 to 65535'),
        name: z.string().optional(),
        protocol: z.string().refine((protocol) => protocol === 'HTTP' || protocol === 'HTTPS', "expected HTTP or HTTPS (meshwork's gateway serves HTTP; TCP, TLS passthrough, GRPC and HTTP2 servers are not supported)"),
        targetPort: unsupported('targetPort (the gateway listens on port.number)'),
      })
      .strict(),
    hosts: z.array(serverHost).min(1, 'expected at least one host'),
    tls: serverTls.optional(),
    name: z.string().optional(),
    bind: unsupported('bind (the gateway listens on every address; use --gateway to choose one)'),
    defaultEndpoint: unsupported('defaultEndpoint (sidecar ingress)'),
  })
  .strict();

export const gatewayResourceSchema = z
  .object({
    apiVersion: istioApiVersion,
    kind: z.literal('Gateway'),
    metadata: istioMetadata,
    spec: z
      .object({
        selector: z.record(z.string()).optional(),
        servers: z.array(server).min(1, 'expected at least one server'),
      })
      .strict(),
  })
  .passthrough();

export type GatewayResource = z.output<typeof gatewayResourceSchema>;

export interface GatewayProblem {
  path: (string | number)[];
  message: string;
}

/**
 * The gateway section a valid Gateway describes (with no routes yet: they come from the
 * VirtualServices bound to it), or the problems that stop it. `locate(path)` says where a field is.
 */
export function gatewayFromResource(gateway: GatewayResource, locate: (path: (string | number)[]) => string): { section: GatewaySection } | { problems: GatewayProblem[] } {
  const problems: GatewayProblem[] = [];
  const annotations = (gateway.metadata as { annotations?: Record<string, unknown> }).annotations ?? {};
  const certDir = annotations[CERT_DIR_ANNOTATION];
  let https: number | undefined;
  let http: { port: number; redirect: boolean } | undefined;
  const certificates: GatewayCertificate[] = [];
  gateway.spec.servers.forEach((s, i) => {
    const at = (...path: (string | number)[]) => ['spec', 'servers', i, ...path];
    if (s.port.protocol === 'HTTP') {
      if (http !== undefined && http.port !== s.port.number) problems.push({ path: at('port', 'number'), message: `a second plain HTTP port (${http.port} is the first); meshwork's gateway has one` });
      const redirect = s.tls?.httpsRedirect === true;
      if (s.tls && Object.keys(s.tls).some((k) => k !== 'httpsRedirect')) problems.push({ path: at('tls'), message: 'an HTTP server takes only tls.httpsRedirect' });
      http = { port: s.port.number, redirect: (http?.redirect ?? false) || redirect };
      return;
    }
    if (https !== undefined && https !== s.port.number) problems.push({ path: at('port', 'number'), message: `a second HTTPS port (${https} is the first); meshwork's gateway serves every HTTPS host on one port` });
    https = s.port.number;
    const tls = s.tls;
    if (!tls) {
      problems.push({ path: at(), message: 'an HTTPS server needs tls: { mode: SIMPLE, credentialName } (or serverCertificate and privateKey)' });
      return;
    }
    if (tls.serverCertificate !== undefined || tls.privateKey !== undefined) {
      if (tls.serverCertificate === undefined || tls.privateKey === undefined) {
        problems.push({ path: at('tls'), message: 'give both serverCertificate and privateKey' });
        return;
      }
      certificates.push({
        hosts: s.hosts,
        certFile: tls.serverCertificate,
        keyFile: tls.privateKey,
        where: { certFile: locate(at('tls', 'serverCertificate')), keyFile: locate(at('tls', 'privateKey')) },
      });
      return;
    }
    if (tls.credentialName === undefined) {
      problems.push({ path: at('tls'), message: 'an HTTPS server needs credentialName (or serverCertificate and privateKey)' });
      return;
    }
    if (typeof certDir !== 'string' || certDir === '') {
      problems.push({
        path: at('tls', 'credentialName'),
        message: `meshwork reads credentialName "${tls.credentialName}" from files: annotate the Gateway with ${CERT_DIR_ANNOTATION}: <dir> holding ${tls.credentialName}/tls.crt and ${tls.credentialName}/tls.key (a mounted kubernetes.io/tls Secret), or give serverCertificate and privateKey`,
      });
      return;
    }
    const where = locate(at('tls', 'credentialName'));
    certificates.push({ hosts: s.hosts, certFile: join(certDir, tls.credentialName, 'tls.crt'), keyFile: join(certDir, tls.credentialName, 'tls.key'), where: { certFile: where, keyFile: where } });
  });
  if (problems.length > 0) return { problems };
  return {
    section: {
      https: https === undefined ? null : { host: '0.0.0.0', port: https },
      http: http === undefined ? null : { host: '0.0.0.0', port: http.port },
      httpsRedirect: http?.redirect ?? false,
      certificates,
      routes: [],
      routeWhere: [],
    },
  };
}

/**
 * Istio's `kind: ServiceEntry` (networking.istio.io v1, v1beta1, v1alpha3) as entries of the egress
 * allow-list (config/egress-schema.ts), each host on the listed ports:
 *
 * - `resolution: DNS` (and `DNS_ROUND_ROBIN`, and `NONE`, since meshwork connects by the name the
 *   caller asked for) resolves the host addressed by DNS at the port addressed;
 * - `resolution: STATIC` sends to `endpoints[].address`, on the endpoint's port for the port's name
 *   (`endpoints[].ports`), else the port itself.
 *
 * With an allow-list, meshwork behaves as Istio with `outboundTrafficPolicy: REGISTRY_ONLY`: other
 * external hosts are refused. `location: MESH_INTERNAL`, `addresses`, `workloadSelector` and
 * `subjectAltNames` are refused with the reason.
 */
import { z } from 'zod';
import { hostPatternSchema } from '../host-pattern.js';
import type { EgressEntry } from '../egress-schema.js';
import { exportTo, istioApiVersion, istioMetadata, unsupported } from './istio-fields.js';

const portNumber = z.number().int().min(1, 'expected a port from 1 to 65535').max(65535, 'expected a port from 1 to 65535');

export const serviceEntrySchema = z
  .object({
    apiVersion: istioApiVersion,
    kind: z.literal('ServiceEntry'),
    metadata: istioMetadata,
    spec: z
      .object({
        hosts: z.array(hostPatternSchema).min(1, 'expected at least one host'),
        ports: z
          .array(
            z
              .object({
                number: portNumber,
                name: z.string().min(1),
                protocol: z
                  .string()
                  .refine((p) => ['HTTP', 'HTTP2', 'GRPC'].includes(p), "expected HTTP, HTTP2 or GRPC (meshwork's egress carries the requests it can parse; TCP, TLS and HTTPS entries would be tunnels)")
                  .optional(),
                targetPort: portNumber.optional(),
              })
              .strict(),
          )
          .min(1, 'expected at least one port')
          .optional(),
        location: z.string().refine((l) => l === 'MESH_EXTERNAL', 'only MESH_EXTERNAL is supported by meshwork; services inside the mesh are spec.services').optional(),
        resolution: z.enum(['DNS', 'DNS_ROUND_ROBIN', 'NONE', 'STATIC']).optional(),
        endpoints: z
          .array(
            z
              .object({
                address: z.string().min(1),
                ports: z.record(portNumber).optional(),
                labels: unsupported('endpoint labels'),
                network: unsupported('networks'),
                locality: unsupported('localities'),
                weight: unsupported('endpoint weights'),
                serviceAccount: unsupported('endpoint service accounts'),
              })
              .strict(),
          )
          .optional(),
        addresses: unsupported('virtual IP addresses (meshwork matches the host name the caller asked for)'),
        workloadSelector: unsupported('workloadSelector (the endpoints of a mesh service are spec.services)'),
        subjectAltNames: unsupported('subjectAltNames (egress to these hosts is plain HTTP)'),
        exportTo,
      })
      .strict()
      .superRefine((spec, ctx) => {
        if (spec.resolution === 'STATIC' && !spec.endpoints?.length) ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'resolution STATIC needs endpoints' });
        if (spec.resolution !== 'STATIC' && spec.endpoints !== undefined) ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'endpoints are taken with resolution: STATIC only' });
      }),
  })
  .passthrough();

export type ServiceEntry = z.output<typeof serviceEntrySchema>;

/** The egress entries a valid ServiceEntry allows. */
export function egressFromServiceEntry(entry: ServiceEntry): EgressEntry[] {
  const { hosts, ports, resolution, endpoints } = entry.spec;
  if (resolution !== 'STATIC') return hosts.map((host) => ({ host, ...(ports ? { ports: ports.map((p) => p.number) } : {}), options: {} }));
  // Each port may map to other ports on the endpoints, so each gets an entry of its own.
  return hosts.flatMap((host) =>
    (ports ?? [undefined]).map((port) => ({
      host,
      ...(port ? { ports: [port.number] } : {}),
      options: { endpoints: endpoints!.map((e) => `${e.address.includes(':') ? `[${e.address}]` : e.address}:${(port && e.ports?.[port.name]) ?? port?.targetPort ?? port?.number ?? 80}`) },
    })),
  );
}

/**
 * A mesh config file: YAML documents of `kind: Mesh` (apiVersion meshwork.dev/v1alpha1; the
 * services and their policies), Linkerd `kind: ServiceProfile` (routes, retry budget,
 * dstOverrides for one service), Istio `kind: VirtualService` / `kind: DestinationRule`, and Istio's `kind: Gateway` and `kind: ServiceEntry` (config/istio/). Every problem in the file is collected and reported at once, each
 * as `file:line:col: <document> <field path>: <what was expected>`, so one edit-and-retry fixes all.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { MeshError } from '../core/errors.js';
import { durationSchema } from './service-schema.js';
import { checkServiceConfig, type ServiceSettings } from './service-settings.js';
import { formatPath } from '../core/field-path.js';
import { schemaProblems, type SchemaProblem } from './schema-problems.js';
import { sidecarSchema, type SidecarSection } from './sidecar-schema.js';
import { adminSchema, type AdminSection } from './admin-schema.js';
import { tracingSchema, type TracingSection } from './tracing-schema.js';
import { mergeProfileInto, serviceForProfile, serviceProfileSchema } from './service-profile.js';
import { kubernetesSectionSchema, type KubernetesSection } from './kubernetes-section.js';
import { parseYamlFile, type YamlDocument } from './yaml-source.js';
import { destinationRuleSchema, type DestinationRule } from './istio/destination-rule.js';
import { virtualServiceSchema, type VirtualService } from './istio/virtual-service.js';
import { applyIstioDocuments, type IstioSource } from './istio/istio-documents.js';
import { quoteValue } from '../core/quote-value.js';
import { gatewaySchema, gatewaySection, unknownRouteServices, type GatewaySection } from './gateway-schema.js';
import { egressEntries, egressSchema, type EgressEntry } from './egress-schema.js';
import { gatewayFromResource, gatewayResourceSchema } from './istio/gateway.js';
import { boundToGateway, gatewayRoutesOf, type GatewayRef } from './istio/gateway-virtual-services.js';
import { egressFromServiceEntry, serviceEntrySchema } from './istio/service-entry.js';

export const MESH_API_VERSION = 'meshwork.dev/v1alpha1';

/** Where this process's identity lives; relative paths are against the config file's directory. */
const identitySchema = z
  .object({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    trustAnchorsFile: z.string().min(1),
    expiryWarning: durationSchema.optional(),
  })
  .strict();
export type IdentitySection = z.output<typeof identitySchema>;

export interface MeshConfig {
  unknownHosts: 'passthrough' | 'refuse';
  services: Record<string, ServiceSettings>;
  /** The `spec.sidecar` section, if any (only mesh-sidecar reads it). */
  sidecar?: SidecarSection;
  /** The `spec.identity` section: this process's certificate for mTLS (paths as written). */
  identity?: IdentitySection;
  /** The `spec.admin` section: tap and the stats window of the admin views. */
  admin?: AdminSection;
  /** The `spec.tracing` section: span export over OTLP/HTTP. */
  tracing?: TracingSection;
  /** Where each service's settings came from, e.g. `mesh.yaml:4:5` (and its profiles). */
  sources: Record<string, string[]>;
  /** Each service's options as written, the file's profiles merged in (cluster profiles merge onto these). */
  inputs: Record<string, Record<string, unknown>>;
  /** The `spec.kubernetes` section: what to read from the cluster's API server. */
  kubernetes?: KubernetesSection;
  /** Services whose routes a VirtualService of the file gives, and where it is. */
  virtualServiceRoutes?: Record<string, string>;
  /** The `spec.gateway` section: mesh-sidecar as the edge (only mesh-sidecar reads it). */
  gateway?: GatewaySection;
  /** The `spec.egress` allow-list: when present, external hosts not on it are refused. */
  egress?: EgressEntry[];
}

const meshDocumentSchema = z
  .object({
    apiVersion: z.literal(MESH_API_VERSION),
    kind: z.literal('Mesh'),
    metadata: z.object({ name: z.string().min(1) }).passthrough().optional(),
    spec: z
      .object({
        unknownHosts: z.enum(['passthrough', 'refuse']).optional(),
        // Checked on its own below, so a sidecar mistake does not hide the services' problems.
        sidecar: z.unknown().optional(),
        admin: z.unknown().optional(),
        tracing: z.unknown().optional(),
        gateway: z.unknown().optional(),
        egress: z.unknown().optional(),
        identity: identitySchema.optional(),
        kubernetes: kubernetesSectionSchema.optional(),
        services: z.record(z.record(z.unknown())),
      })
      .strict(),
  })
  .strict();

interface ServiceEntry {
  input: Record<string, unknown>;
  doc: YamlDocument;
  path: (string | number)[];
  sources: string[];
}

export async function loadMeshConfig(path: string): Promise<MeshConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseMeshConfig(text, path);
}

/**
 * A file with no document in it (empty, whitespace, comments, `---` only). It is what a truncated
 * ConfigMap or a file caught half-written looks like, so it is an invalid config, never a mesh with
 * no services.
 */
export class EmptyConfigError extends MeshError {
  constructor(fileName: string) {
    super('INVALID_CONFIG', invalidConfigMessage(fileName, [`${fileName}: the file is empty (no YAML document, only whitespace, comments or ---); a config needs a kind: Mesh document`]));
  }
}

function invalidConfigMessage(fileName: string, problems: string[]): string {
  return `${fileName}: invalid config (${problems.length} problem${problems.length > 1 ? 's' : ''}); nothing was applied:\n  ${problems.join('\n  ')}`;
}

export function parseMeshConfig(text: string, fileName: string): MeshConfig {
  const { documents, problems: yamlProblems } = parseYamlFile(text, fileName);
  if (documents.length === 0 && yamlProblems.length === 0) throw new EmptyConfigError(fileName);
  const problems: string[] = yamlProblems.map((p) => `${p.where}: ${p.message}`);
  const report = (doc: YamlDocument, label: string, path: (string | number)[], message: string, key = false) =>
    problems.push(`${doc.locate(path, key)}: ${label} ${formatPath(path)}: ${message}`);
  // An unknown field is located at its key, and named by the object that holds it.
  const reportAll = (doc: YamlDocument, label: string, found: SchemaProblem[]) => {
    for (const p of found) problems.push(`${doc.locate(p.path, p.key)}: ${label} ${formatPath(p.key ? p.path.slice(0, -1) : p.path)}: ${p.message}`);
  };

  const services = new Map<string, ServiceEntry>();
  const profiles: { doc: YamlDocument; label: string; value: z.output<typeof serviceProfileSchema> }[] = [];
  const virtualServices: IstioSource<VirtualService>[] = [];
  const destinationRules: IstioSource<DestinationRule>[] = [];
  let unknownHosts: 'passthrough' | 'refuse' = 'passthrough';
  let sidecar: SidecarSection | undefined;
  let identity: IdentitySection | undefined;
  let kubernetes: KubernetesSection | undefined;
  let admin: AdminSection | undefined;
  let tracing: TracingSection | undefined;
  let gateway: GatewaySection | undefined;
  let egress: EgressEntry[] | undefined;
  // Istio's Gateway and ServiceEntry documents, applied once every document is read.
  const istioGateways: { doc: YamlDocument; label: string; section: GatewaySection; ref: GatewayRef }[] = [];
  const serviceEntries: EgressEntry[] = [];

  for (const doc of documents) {
    const value = doc.value as Record<string, unknown> | null;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${doc.locate([])}: document ${doc.index + 1}: expected a mapping with apiVersion, kind, metadata and spec, got ${quoteValue(value)}`);
      continue;
    }
    const kind = value.kind;
    // A kind that is not a string (a list, a mapping) cannot name the document; its place and the kind field's problem do.
    const label = `${typeof kind === 'string' ? kind : 'document'}${typeof (value.metadata as { name?: unknown } | undefined)?.name === 'string' ? ` ${quoteValue((value.metadata as { name: string }).name)}` : ` ${doc.index + 1}`}`;
    if (kind === 'Mesh') {
      const parsed = meshDocumentSchema.safeParse(value);
      if (!parsed.success) {
        reportAll(doc, label, schemaProblems(meshDocumentSchema, parsed.error.issues, value));
        continue;
      }
      if (parsed.data.spec.unknownHosts) unknownHosts = parsed.data.spec.unknownHosts;
      if (parsed.data.spec.identity) identity = parsed.data.spec.identity;
      if (parsed.data.spec.kubernetes) kubernetes = parsed.data.spec.kubernetes;
      // Sections checked on their own, so that a mistake in one does not hide the others' problems.
      const section = <T extends z.ZodTypeAny>(name: string, schema: T, held: unknown): z.output<T> | undefined => {
        const value = (parsed.data.spec as Record<string, unknown>)[name];
        if (value === undefined) return undefined;
        if (held !== undefined) report(doc, label, ['spec', name], `a second spec.${name} section; give it once`, true);
        const result = schema.safeParse(value);
        if (result.success) return result.data as z.output<T>;
        reportAll(doc, label, schemaProblems(schema, result.error.issues, value).map((p) => ({ ...p, path: ['spec', name, ...p.path] })));
        return undefined;
      };
      sidecar = section('sidecar', sidecarSchema, sidecar) ?? sidecar;
      admin = section('admin', adminSchema, admin) ?? admin;
      tracing = section('tracing', tracingSchema, tracing) ?? tracing;
      const gatewayParsed = section('gateway', gatewaySchema, gateway);
      if (gatewayParsed) gateway = gatewaySection(gatewayParsed, (path) => `${doc.locate(['spec', 'gateway', ...path])}: ${label} ${formatPath(['spec', 'gateway', ...path])}`);
      const egressParsed = section('egress', egressSchema, egress);
      if (egressParsed) {
        const checked = egressEntries(egressParsed);
        reportAll(doc, label, checked.problems.map((p) => ({ ...p, path: ['spec', 'egress', ...p.path] })));
        egress = checked.entries;
      }
      for (const [name, input] of Object.entries(parsed.data.spec.services)) {
        const path = ['spec', 'services', name];
        if (services.has(name)) {
          report(doc, label, path, `service ${quoteValue(name)} is defined twice (first at ${services.get(name)!.sources[0]})`, true);
          continue;
        }
        if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(name)) {
          report(doc, label, path, `${quoteValue(name)} is not a service name; use a DNS-like name such as "reviews"`, true);
          continue;
        }
        services.set(name, { input: { ...input }, doc, path, sources: [doc.locate(path, true)] });
      }
    } else if (kind === 'ServiceProfile') {
      const parsed = serviceProfileSchema.safeParse(value);
      if (!parsed.success) {
        reportAll(doc, label, schemaProblems(serviceProfileSchema, parsed.error.issues, value));
        continue;
      }
      profiles.push({ doc, label, value: parsed.data });
    } else if (kind === 'VirtualService' || kind === 'DestinationRule') {
      const schema = kind === 'VirtualService' ? virtualServiceSchema : destinationRuleSchema;
      const parsed = schema.safeParse(value);
      if (!parsed.success) reportAll(doc, label, schemaProblems(schema, parsed.error.issues, value));
      else if (kind === 'VirtualService') virtualServices.push({ doc, label, value: parsed.data as VirtualService });
      else destinationRules.push({ doc, label, value: parsed.data as DestinationRule });
    } else if (kind === 'Gateway' || kind === 'ServiceEntry') {
      const schema = kind === 'Gateway' ? gatewayResourceSchema : serviceEntrySchema;
      const parsed = schema.safeParse(value);
      if (!parsed.success) reportAll(doc, label, schemaProblems(schema, parsed.error.issues, value));
      else if (kind === 'ServiceEntry') serviceEntries.push(...egressFromServiceEntry(parsed.data as z.output<typeof serviceEntrySchema>));
      else {
        const result = gatewayFromResource(parsed.data as z.output<typeof gatewayResourceSchema>, (path) => `${doc.locate(path)}: ${label} ${formatPath(path)}`);
        if ('problems' in result) for (const p of result.problems) report(doc, label, p.path, p.message);
        else {
          const { name, namespace } = (parsed.data as z.output<typeof gatewayResourceSchema>).metadata;
          istioGateways.push({ doc, label, section: result.section, ref: { name, namespace } });
        }
      }
    } else {
      report(doc, label, ['kind'], `unknown kind ${JSON.stringify(kind)}; expected "Mesh" (apiVersion ${MESH_API_VERSION}), "ServiceProfile" (apiVersion linkerd.io/v1alpha2), or "VirtualService", "DestinationRule", "Gateway" or "ServiceEntry" (apiVersion networking.istio.io/v1)`);
    }
  }

  const profileRoutes = new Map<string, string>();
  for (const { doc, label, value } of profiles) {
    const target = serviceForProfile(value.metadata.name, [...services.keys()]);
    if (target === undefined) {
      report(doc, label, ['metadata', 'name'], `no Mesh service is named ${quoteValue(value.metadata.name)} or ${quoteValue(value.metadata.name.split('.')[0])}; define it under spec.services of a kind: Mesh document`);
      continue;
    }
    const entry = services.get(target)!;
    mergeProfileInto(entry.input, value);
    entry.sources.push(doc.locate(['metadata', 'name']));
    if (value.spec.routes) profileRoutes.set(target, doc.locate(['metadata', 'name']));
  }
  // A VirtualService applies to the sidecars when it names no gateway or names "mesh"; one that
  // names only gateways gives routes to the edge, not to the services' own routes.
  const forMesh = virtualServices.filter(({ value }) => value.spec.gateways === undefined || value.spec.gateways.length === 0 || value.spec.gateways.includes('mesh'));
  const forGateways = virtualServices.filter(({ value }) => value.spec.gateways?.some((g) => g !== 'mesh'));
  const virtualServiceRoutes = applyIstioDocuments(destinationRules, forMesh, services, profileRoutes, (doc, label, path, message) => report(doc, label, path, message));

  if (!documents.some((d) => (d.value as { kind?: unknown } | null)?.kind === 'Mesh') && problems.length === 0) {
    problems.push(`${fileName}:1:1: no kind: Mesh document; a config needs one to define its services`);
  }

  const settings: Record<string, ServiceSettings> = {};
  for (const [name, entry] of services) {
    const result = checkServiceConfig(entry.input);
    if ('settings' in result) settings[name] = result.settings;
    else {
      const docLabel = `Mesh service "${name}"`;
      for (const p of result.problems) {
        const full = [...entry.path, ...p.path];
        problems.push(`${entry.doc.locate(full, p.key)}: ${docLabel} ${formatPath(full.slice(0, p.key ? -1 : undefined))}: ${p.message}`);
      }
    }
  }

  let gatewayRef: GatewayRef | undefined;
  for (const [i, { doc, label, section, ref }] of istioGateways.entries()) {
    if (gateway !== undefined || i > 0) report(doc, label, ['kind'], 'a second gateway (spec.gateway or kind: Gateway); a sidecar runs one');
    else {
      gateway = section;
      gatewayRef = ref;
    }
  }
  const serviceNames = [...services.keys()];
  for (const { doc, label, value } of forGateways) {
    if (gateway === undefined || gatewayRef === undefined || !boundToGateway(value, gatewayRef)) {
      const named = value.spec.gateways!.filter((g) => g !== 'mesh').join('", "');
      report(doc, label, ['spec', 'gateways'], `no kind: Gateway named "${named}" in this config${gatewayRef ? ` (the Gateway here is "${gatewayRef.namespace ?? 'default'}/${gatewayRef.name}")` : ''}`);
      continue;
    }
    const { routes, problems: routeProblems } = gatewayRoutesOf(value, (host) => serviceForProfile(host, serviceNames));
    for (const p of routeProblems) report(doc, label, p.path, p.message);
    for (const route of routes) {
      gateway.routes.push(route);
      gateway.routeWhere.push(`${doc.locate(['metadata', 'name'])}: ${label} ${formatPath(['metadata', 'name'])}`);
    }
  }
  if (serviceEntries.length > 0) egress = [...(egress ?? []), ...serviceEntries];
  if (gateway) problems.push(...unknownRouteServices(gateway, (name) => services.has(name)));
  if (problems.length > 0) {
    throw new MeshError('INVALID_CONFIG', invalidConfigMessage(fileName, problems));
  }
  return {
    unknownHosts,
    services: settings,
    ...(sidecar ? { sidecar } : {}),
    ...(identity ? { identity } : {}),
    ...(kubernetes ? { kubernetes } : {}),
    ...(admin ? { admin } : {}),
    ...(tracing ? { tracing } : {}),
    ...(gateway ? { gateway } : {}),
    ...(egress ? { egress } : {}),
    sources: Object.fromEntries([...services].map(([n, e]) => [n, e.sources])),
    inputs: Object.fromEntries([...services].map(([n, e]) => [n, e.input])),
    ...(virtualServiceRoutes.size > 0 ? { virtualServiceRoutes: Object.fromEntries(virtualServiceRoutes) } : {}),
  };
}

/**
 * deploy/kubernetes/ cannot be applied to a cluster here, so every object is validated against the
 * Kubernetes schemas (kubernetes-models), the ServiceProfile against the CRD's structural schema,
 * and the pieces are checked to fit one another and the code: ports, probes, grace periods, RBAC.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseDuration } from '../../src/core/duration.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { serviceProfileSchema } from '../../src/config/service-profile.js';
import { parseCli } from '../../src/sidecar-mode/cli-args.js';
import { checkStructural, type StructuralSchema } from '../helpers/structural-schema.js';

const DIR = new URL('../../deploy/kubernetes/', import.meta.url);
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const docs: { file: string; doc: Doc }[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) => parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((d) => ({ file, doc: d.toJS() as Doc })));
const find = <T = Doc>(kind: string, name?: string) => docs.find((d) => d.doc.kind === kind && (name === undefined || d.doc.metadata.name === name))?.doc as T;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
};

test('every object in deploy/kubernetes validates against its Kubernetes schema', () => {
  assert.ok(docs.length >= 8, `${docs.length} objects`);
  for (const { file, doc } of docs) {
    if (doc.kind === 'ServiceProfile') continue;
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`);
  }
});

test('the validation refuses a broken object (so the test above can fail)', () => {
  const deployment = structuredClone(find('Deployment', 'reviews')) as { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
  deployment.spec.template.spec.containers[1]!.ports[0]!.containerPort = 'mesh-inbound';
  assert.throws(() => new Deployment(deployment as never).validate(), /containerPort must be integer/);
});

test('the ServiceProfile fits the CRD schema and loads in meshwork; the schema refuses a wrong one', () => {
  const crd = find<{ spec: { group: string; names: { plural: string; kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: StructuralSchema } }[] } }>('CustomResourceDefinition');
  assert.equal(crd.spec.group, 'linkerd.io');
  assert.equal(crd.spec.names.plural, 'serviceprofiles');
  const version = crd.spec.versions.find((v) => v.name === 'v1alpha2' && v.served)!;
  const schema = version.schema.openAPIV3Schema;
  const profiles = docs.filter((d) => d.doc.kind === 'ServiceProfile').map((d) => d.doc);
  assert.ok(profiles.length > 0);
  for (const profile of profiles) {
    assert.equal(profile.apiVersion, `${crd.spec.group}/${version.name}`);
    assert.deepEqual(checkStructural(schema, profile), [], profile.metadata.name);
    assert.ok(serviceProfileSchema.safeParse(profile).success, `${profile.metadata.name} loads as a meshwork ServiceProfile`);
  }
  // The test fixture too: what the API server would store is what the fake serves.
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/kubernetes/serviceprofile-watch.jsonl', import.meta.url), 'utf8')).object;
  assert.deepEqual(checkStructural(schema, fixture), []);
  const wrong = structuredClone(profiles[0]!) as unknown as { spec: Record<string, unknown> };
  wrong.spec.retryBudget = { retryRatio: '0.2', minRetriesPerSecond: 10 };
  wrong.spec.routs = [];
  assert.deepEqual(checkStructural(schema, wrong), [
    '.spec.retryBudget: "ttl" is required',
    '.spec.retryBudget.retryRatio: expected a number, got "0.2"',
    '.spec: unknown field "routs"',
  ]);
});

test('the ConfigMap holds a valid mesh config that discovers services from EndpointSlices', () => {
  const configMap = find<{ data: Record<string, string> }>('ConfigMap', 'mesh-config');
  const config = parseMeshConfig(configMap.data['mesh.yaml']!, 'configmap.yaml#mesh.yaml');
  assert.ok(Object.keys(config.services).length > 0);
  for (const settings of Object.values(config.services)) assert.match(String(settings.discovery), /^k8s:[a-z-]+\.shop:http$/);
  assert.ok(config.kubernetes?.serviceProfiles);
});

test('the Deployment and Service fit together: ports, probes, HTTP_PROXY, non-root, read-only, grace for the drain', () => {
  type Container = {
    name: string;
    args?: string[];
    env?: { name: string; value: string }[];
    ports?: { name: string; containerPort: number }[];
    readinessProbe?: { httpGet: { path: string; port: string } };
    livenessProbe?: { httpGet: { path: string; port: string } };
    lifecycle?: { preStop?: { exec: { command: string[] } } };
    securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  };
  const deployment = find<{ metadata: { namespace: string }; spec: { template: { spec: { serviceAccountName: string; terminationGracePeriodSeconds: number; securityContext: { runAsNonRoot: boolean; runAsUser: number }; containers: Container[] } } } }>('Deployment', 'reviews');
  const pod = deployment.spec.template.spec;
  const sidecar = pod.containers.find((c) => c.name === 'mesh-sidecar')!;
  const app = pod.containers.find((c) => c.name === 'app')!;
  const cli = parseCli(sidecar.args!);
  assert.equal(cli.kind, 'run');
  if (cli.kind !== 'run') return;
  const { overrides } = cli;
  const port = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;

  // Mesh traffic enters through the sidecar's inbound port, which hands it to the app.
  const service = find<{ spec: { ports: { name: string; targetPort: string | number }[] } }>('Service', 'reviews');
  const targetPort = service.spec.ports.find((p) => p.name === 'http')!.targetPort;
  assert.equal(typeof targetPort === 'string' ? port(sidecar, targetPort) : targetPort, overrides.inbound!.port);
  assert.equal(overrides.app!.port, port(app, 'app'));
  // The app's calls go out through the outbound port.
  assert.equal(app.env?.find((e) => e.name === 'HTTP_PROXY')?.value, `http://127.0.0.1:${overrides.outbound!.port}`);
  // Probes on the admin port: /ready and /live.
  assert.equal(port(sidecar, sidecar.readinessProbe!.httpGet.port), overrides.admin!.port);
  assert.equal(sidecar.readinessProbe!.httpGet.path, '/ready');
  assert.equal(sidecar.livenessProbe!.httpGet.path, '/live');
  // Grace: the preStop wait plus the drain fit in terminationGracePeriodSeconds.
  const preStopSeconds = Number(sidecar.lifecycle!.preStop!.exec.command[1]);
  assert.ok(pod.terminationGracePeriodSeconds * 1000 >= preStopSeconds * 1000 + overrides.drainGrace!, `${pod.terminationGracePeriodSeconds}s covers ${preStopSeconds}s + ${overrides.drainGrace} ms`);
  assert.equal(parseDuration('20s'), overrides.drainGrace);
  // Non-root, read-only root filesystem, and the ConfigMap it reads is the one shipped.
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  assert.equal(sidecar.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(sidecar.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(cli.config, `k8s:configmap/${deployment.metadata.namespace}/mesh-config#mesh.yaml`);
  assert.equal(pod.serviceAccountName, find('ServiceAccount').metadata.name);
});

test('RBAC grants read access to exactly what the code reads, and nothing to write', () => {
  const role = find<{ rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[] }>('Role');
  const allows = (group: string, resource: string) => role.rules.find((r) => r.apiGroups.includes(group) && r.resources.includes(resource));
  // The paths the code lists and watches: src/discovery/kubernetes/*.
  for (const [group, resource] of [
    ['discovery.k8s.io', 'endpointslices'],
    ['linkerd.io', 'serviceprofiles'],
    ['', 'pods'],
    ['', 'configmaps'],
  ] as const) {
    const rule = allows(group, resource);
    assert.ok(rule, `${resource} is readable`);
    assert.deepEqual([...rule.verbs].sort(), ['get', 'list', 'watch']);
  }
  assert.deepEqual(allows('', 'configmaps')!.resourceNames, ['mesh-config']);
  const binding = find<{ subjects: { kind: string; name: string }[]; roleRef: { name: string } }>('RoleBinding');
  assert.equal(binding.roleRef.name, find('Role').metadata.name);
  assert.deepEqual(binding.subjects.map((s) => `${s.kind}/${s.name}`), [`ServiceAccount/${find('ServiceAccount').metadata.name}`]);
});

test('the Dockerfile: node:20-slim, npm ci --omit=dev, a numeric non-root user, an exec-form entrypoint', () => {
  const text = readFileSync(new URL('Dockerfile', DIR), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const stages = lines.filter((l) => l.startsWith('FROM '));
  assert.ok(stages.every((l) => /^FROM node:20-slim\b/.test(l)), stages.join('; '));
  const final = lines.slice(lines.lastIndexOf(stages.at(-1)!));
  assert.ok(final.some((l) => /^RUN npm ci --omit=dev\b/.test(l)));
  assert.ok(final.some((l) => /^USER [1-9]\d*(:\d+)?$/.test(l)), 'a numeric, non-root USER');
  const entrypoint = final.find((l) => l.startsWith('ENTRYPOINT '))!;
  assert.deepEqual(JSON.parse(entrypoint.slice('ENTRYPOINT '.length)), ['node', 'dist/sidecar-mode/main.js']);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };
  assert.equal(`./${JSON.parse(entrypoint.slice('ENTRYPOINT '.length))[1]}`, pkg.bin['mesh-sidecar']);
});

/**
 * ServiceProfiles read from a cluster, applied exactly as a ServiceProfile in the config file is
 * (service-profile.ts: by metadata.name or its first DNS label, the profile's fields replacing the
 * service's), after the file's own profiles.
 *
 * Each object keeps its last good version: a change that does not validate is reported, naming the
 * object (`namespace/name`) and the field, and the version before it stays in force, so one bad
 * `kubectl apply` cannot strip a service of its routes. A profile for a service this mesh does not
 * have is kept quietly (a namespace holds profiles for many services) and applies if one appears.
 */
import type { MeshConfig } from './mesh-config.js';
import { checkServiceConfig, type ServiceSettings } from './service-settings.js';
import { formatPath } from '../core/field-path.js';
import { schemaProblems, type SchemaProblem } from './schema-problems.js';
import { mergeProfileInto, serviceForProfile, serviceProfileSchema, type ServiceProfile } from './service-profile.js';

interface Seen {
  /** The object's resourceVersion (or its JSON), to validate each version once. */
  version: string;
  problem: string | undefined;
}

export class ClusterProfiles {
  readonly #lastGood = new Map<string, ServiceProfile>();
  readonly #seen = new Map<string, Seen>();

  /** Profiles in force, by `namespace/name`. */
  get current(): ReadonlyMap<string, ServiceProfile> {
    return this.#lastGood;
  }

  /**
   * Takes the cluster's objects as now listed (by `namespace/name`) and checks each new version
   * against `config`. Returns the problems of the objects as they now stand.
   */
  update(objects: ReadonlyMap<string, unknown>, config: MeshConfig): string[] {
    for (const key of [...this.#seen.keys()]) {
      if (objects.has(key)) continue;
      this.#seen.delete(key);
      this.#lastGood.delete(key);
    }
    for (const [key, raw] of objects) {
      const version = versionOf(raw);
      if (this.#seen.get(key)?.version === version) continue;
      const checked = this.#check(key, raw, config);
      if ('profile' in checked) this.#lastGood.set(key, checked.profile);
      this.#seen.set(key, { version, problem: 'problem' in checked ? checked.problem : undefined });
    }
    return [...this.#seen.values()].flatMap((s) => (s.problem ? [s.problem] : []));
  }

  /** `config` with the profiles in force merged into its services; one that no longer fits is left out and reported. */
  apply(config: MeshConfig): { config: MeshConfig; problems: string[] } {
    if (this.#lastGood.size === 0) return { config, problems: [] };
    const inputs = new Map<string, Record<string, unknown>>();
    const sources: Record<string, string[]> = { ...config.sources };
    const problems: string[] = [];
    for (const key of [...this.#lastGood.keys()].sort()) {
      const profile = this.#lastGood.get(key)!;
      const target = serviceForProfile(profile.metadata.name, Object.keys(config.services));
      if (target === undefined) continue;
      const conflict = routesConflict(key, profile, target, config, 'is left out until it fits the config again');
      if (conflict) {
        problems.push(conflict);
        continue;
      }
      const candidate = structuredClone(inputs.get(target) ?? config.inputs[target] ?? {});
      mergeProfileInto(candidate, profile);
      const result = checkServiceConfig(candidate);
      if ('problems' in result) {
        problems.push(describe(key, result.problems.map(toProfileField), 'is left out until it fits the config again'));
        continue;
      }
      inputs.set(target, candidate);
      sources[target] = [...(sources[target] ?? []), `ServiceProfile ${key} (cluster)`];
    }
    const services: Record<string, ServiceSettings> = { ...config.services };
    for (const [name, input] of inputs) services[name] = (checkServiceConfig(input) as { settings: ServiceSettings }).settings;
    return { config: { ...config, services, sources }, problems };
  }

  #check(key: string, raw: unknown, config: MeshConfig): { profile: ServiceProfile } | { problem: string } {
    const keeping = this.#lastGood.has(key) ? 'its last good version stays in force' : 'it is not applied';
    // List items of a custom resource carry apiVersion and kind; fill them in should a server leave them out.
    const object = { apiVersion: 'linkerd.io/v1alpha2', kind: 'ServiceProfile', ...(raw as object) };
    const parsed = serviceProfileSchema.safeParse(object);
    if (!parsed.success) return { problem: describe(key, schemaProblems(serviceProfileSchema, parsed.error.issues, object), keeping) };
    const target = serviceForProfile(parsed.data.metadata.name, Object.keys(config.services));
    if (target !== undefined) {
      const conflict = routesConflict(key, parsed.data, target, config, keeping);
      if (conflict) return { problem: conflict };
      const candidate = structuredClone(config.inputs[target] ?? {});
      mergeProfileInto(candidate, parsed.data);
      const result = checkServiceConfig(candidate);
      if ('problems' in result) return { problem: describe(key, result.problems.map(toProfileField), keeping) };
    }
    return { profile: parsed.data };
  }
}

/** A service takes its routes from one document: a VirtualService in the file, or a profile. */
function routesConflict(key: string, profile: ServiceProfile, service: string, config: MeshConfig, consequence: string): string | undefined {
  const where = config.virtualServiceRoutes?.[service];
  if (where === undefined || profile.spec.routes === undefined) return undefined;
  return `ServiceProfile ${key}: spec.routes: service "${service}" has its routes from a VirtualService (${where}); give them in one of the two; ${consequence}`;
}

function versionOf(raw: unknown): string {
  return (raw as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion ?? JSON.stringify(raw);
}

function describe(key: string, problems: SchemaProblem[], consequence: string): string {
  const fields = problems.map((p) => `${formatPath(p.key ? p.path.slice(0, -1) : p.path)}: ${p.message}`).join('; ');
  return `ServiceProfile ${key}: ${fields}; ${consequence}`;
}

/** A problem found in the merged service options, named by the profile field it came from. */
function toProfileField(problem: SchemaProblem): SchemaProblem {
  const [head, ...rest] = problem.path;
  if (head === 'routes') return { ...problem, path: ['spec', 'routes', ...rest] };
  if (head === 'retries' && rest[0] === 'budget') return { ...problem, path: ['spec', 'retryBudget', ...rest.slice(1)] };
  if (head === 'split') return { ...problem, path: ['spec', 'dstOverrides', ...rest.map((p) => (p === 'service' ? 'authority' : p))] };
  return problem;
}

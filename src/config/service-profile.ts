/**
 * Linkerd ServiceProfiles (linkerd.io/v1alpha2) load as they are. A profile's routes, retry budget
 * and dstOverrides become the routes, `retries.budget` and `split` of the mesh service it names, by
 * `metadata.name` (`reviews.default.svc.cluster.local`), exactly or by its first DNS label
 * (`reviews`). What the profile sets replaces the same fields of the Mesh document: a cluster's
 * profile is the source of truth for the routes it describes.
 */
import { z } from 'zod';
import { serviceForAuthority } from '../http/authority.js';
import { durationSchema, routeSchema, splitWeightSchema } from './service-schema.js';

/** A ServiceProfile route has Linkerd's fields only; the per-route split, faults and Envoy retries are the Mesh document's and Istio's. */
const profileRouteSchema = routeSchema.omit({ perTryTimeout: true, retries: true, split: true, faults: true, mirror: true, isIdempotent: true });

export const serviceProfileSchema = z
  .object({
    apiVersion: z.literal('linkerd.io/v1alpha2'),
    kind: z.literal('ServiceProfile'),
    // Kubernetes metadata carries many fields (uid, labels, annotations, managedFields, ...); only the name matters.
    metadata: z.object({ name: z.string().min(1), namespace: z.string().optional() }).passthrough(),
    spec: z
      .object({
        routes: z.array(profileRouteSchema).optional(),
        retryBudget: z
          .object({
            retryRatio: z.number().min(0, 'expected a ratio >= 0, e.g. 0.2'),
            minRetriesPerSecond: z.number().int().min(0),
            ttl: durationSchema,
          })
          .strict()
          .optional(),
        dstOverrides: z.array(z.object({ authority: z.string().min(1), weight: splitWeightSchema }).strict()).optional(),
        opaquePorts: z.array(z.union([z.string(), z.number()])).optional(),
      })
      .strict(),
  })
  .passthrough();

export type ServiceProfile = z.output<typeof serviceProfileSchema>;

/** The ServiceConfig fields a profile sets, in a form the service schema accepts (durations in ms, weights as numbers). */
export function profileToServiceConfig(profile: ServiceProfile): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const { routes, retryBudget, dstOverrides } = profile.spec;
  if (routes) config.routes = routes.map(toRouteInput);
  if (retryBudget) config.retries = { budget: { retryRatio: retryBudget.retryRatio, minRetriesPerSecond: retryBudget.minRetriesPerSecond, ttl: retryBudget.ttl } };
  if (dstOverrides) config.split = dstOverrides.map((d) => ({ service: d.authority, weight: d.weight }));
  return config;
}

/**
 * Puts a profile's fields into a service's input options, as the file's profiles are: what the
 * profile sets replaces the service's own, except that a retry budget leaves the other retry
 * options (backoff, maxAttempts, ...) as they were.
 */
export function mergeProfileInto(input: Record<string, unknown>, profile: ServiceProfile): void {
  const fromProfile = profileToServiceConfig(profile);
  if (fromProfile.retries && input.retries && typeof input.retries === 'object') {
    fromProfile.retries = { ...(input.retries as object), ...(fromProfile.retries as object) };
  }
  Object.assign(input, fromProfile);
}

/** Routes were validated (and their timeouts parsed to ms) by routeSchema; give back the input form. */
function toRouteInput(route: z.output<typeof profileRouteSchema>): Record<string, unknown> {
  const { timeout, ...rest } = route;
  return timeout === undefined ? rest : { ...rest, timeout };
}

/** The mesh service a profile is for: exact name, else the first DNS label. */
export function serviceForProfile(profileName: string, services: readonly string[]): string | undefined {
  const byLowerCase = new Map(services.map((s) => [s.toLowerCase(), s]));
  const found = serviceForAuthority(profileName, (name) => byLowerCase.has(name));
  return found === undefined ? undefined : byLowerCase.get(found);
}

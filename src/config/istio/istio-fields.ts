/**
 * What Istio's networking documents share: their API versions, the Kubernetes metadata (only the
 * name and namespace matter here), percentages, and the refusal of a field meshwork cannot honour,
 * which names the field and says why rather than let it be ignored.
 */
import { z } from 'zod';

export const ISTIO_API_VERSIONS = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'] as const;

export const istioApiVersion = z.enum(ISTIO_API_VERSIONS);

// Kubernetes metadata carries many fields (uid, labels, annotations, managedFields, ...).
export const istioMetadata = z.object({ name: z.string().min(1), namespace: z.string().optional() }).passthrough();

/** A field Istio has and meshwork does not honour: refused, whatever its value, with the reason. */
export const unsupported = (reason: string) => z.never({ errorMap: () => ({ message: `not supported by meshwork: ${reason}; remove it` }) }).optional();

/** Istio's `Percent`: `{ value: 0..100 }`, a double. */
export const percentage = z.object({ value: z.number().min(0, 'expected a percentage from 0 to 100').max(100, 'expected a percentage from 0 to 100') }).strict();

/** The deprecated integer percentages (`percent`, `mirrorPercent`) that older documents still carry. */
export const legacyPercent = z.number().int('expected a whole number').min(0, 'expected a percentage from 0 to 100').max(100, 'expected a percentage from 0 to 100');

/**
 * `exportTo` says which namespaces see a rule. A mesh config serves one application, which sees every
 * rule in it: only the default, every namespace (`*`), is taken.
 */
export const exportTo = z
  .array(z.string())
  .refine((namespaces) => namespaces.length === 0 || (namespaces.length === 1 && namespaces[0] === '*'), 'only ["*"] (every namespace, the default) is supported: a mesh config serves one application, which sees every rule in it')
  .optional();

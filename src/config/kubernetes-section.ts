/**
 * A Mesh document's `spec.kubernetes`: what the mesh reads from the cluster's API server besides
 * endpoints. Today that is Linkerd ServiceProfiles, watched and applied like the file's own:
 *
 *   spec:
 *     kubernetes:
 *       serviceProfiles: { namespace: shop, labelSelector: "team=checkout" }   # both optional
 *       kubeconfig: ./kubeconfig    # outside a pod; in a pod the service account is used
 *       context: dev
 */
import { z } from 'zod';

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a Kubernetes namespace name such as "shop"').max(63);

export const kubernetesSectionSchema = z
  .object({
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    serviceProfiles: z
      .object({
        // Default: the namespace of the credentials (the pod's own).
        namespace: dnsLabel.optional(),
        labelSelector: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type KubernetesSection = z.output<typeof kubernetesSectionSchema>;

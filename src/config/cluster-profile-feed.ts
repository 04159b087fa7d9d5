/**
 * Keeps a mesh's ServiceProfiles from the cluster current: watches the collection that the config's
 * `spec.kubernetes.serviceProfiles` names (restarting the watch when a reload changes it), keeps
 * each object's last good version (cluster-profiles.ts), and asks the mesh to apply again when they
 * change. While the API server is away the profiles last seen stay in force.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Clock, Random } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { watchServiceProfiles } from '../discovery/kubernetes/service-profile-watch.js';
import type { WatchedCollection } from '../discovery/kubernetes/watch-collection.js';
import { ClusterProfiles } from './cluster-profiles.js';
import type { KubernetesSection } from './kubernetes-section.js';
import type { MeshConfig } from './mesh-config.js';

export interface ClusterProfileFeedOptions {
  logger: Logger;
  clock?: Clock;
  random?: Random;
  /** Relative kubeconfig paths resolve against this (the config file's directory). */
  baseDir?: string;
  /** The profiles in force changed: merge them again. */
  onChange(): void;
}

export class ClusterProfileFeed {
  readonly #options: ClusterProfileFeedOptions;
  #profiles = new ClusterProfiles();
  #watch: WatchedCollection | undefined;
  #watching: string | undefined;
  #config: MeshConfig | undefined;
  /** Objects that do not validate, and profiles in force that no longer fit the file's config. */
  #objectProblems: string[] = [];
  #fitProblems: string[] = [];

  constructor(options: ClusterProfileFeedOptions) {
    this.#options = options;
  }

  /** The profiles that do not validate now (each names namespace/name and the field), as one error. */
  get error(): MeshError | undefined {
    const problems = [...this.#objectProblems, ...this.#fitProblems];
    return problems.length === 0 ? undefined : new MeshError('INVALID_CONFIG', `ServiceProfiles from the cluster (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`);
  }

  /** Follows a newly applied file config: starts, restarts or stops the watch as its spec.kubernetes says. */
  configure(config: MeshConfig): void {
    this.#config = config;
    const section = config.kubernetes?.serviceProfiles ? config.kubernetes : undefined;
    const wanted = JSON.stringify(section ?? null);
    if (wanted === this.#watching) return;
    const previous = this.#watch;
    this.#watch = section ? this.#start(section) : undefined;
    void previous?.close();
    this.#profiles = new ClusterProfiles();
    this.#objectProblems = [];
    this.#fitProblems = [];
    this.#watching = wanted;
  }

  #start(section: KubernetesSection): WatchedCollection {
    const { logger, baseDir } = this.#options;
    const kubeconfig = section.kubeconfig && (isAbsolute(section.kubeconfig) ? section.kubeconfig : resolve(baseDir ?? process.cwd(), section.kubeconfig));
    try {
      return watchServiceProfiles(
        {
          ...(kubeconfig ? { kubeconfig } : {}),
          ...(section.context ? { context: section.context } : {}),
          ...(section.serviceProfiles?.namespace ? { namespace: section.serviceProfiles.namespace } : {}),
          ...(section.serviceProfiles?.labelSelector ? { labelSelector: section.serviceProfiles.labelSelector } : {}),
          ...(this.#options.clock ? { clock: this.#options.clock } : {}),
          ...(this.#options.random ? { random: this.#options.random } : {}),
        },
        {
          onObjects: (objects) => {
            this.#objectProblems = this.#logNew(this.#objectProblems, this.#profiles.update(objects, this.#config!));
            this.#options.onChange();
          },
          onError: (error) => logger.warn('cannot read ServiceProfiles from the cluster; the last ones seen stay in force', { error: error.message }),
        },
      );
    } catch (err) {
      throw new MeshError('INVALID_CONFIG', `spec.kubernetes: ${(err as Error).message}`, { cause: err });
    }
  }

  /** `config` with the cluster's profiles merged into its services. */
  merge(config: MeshConfig): MeshConfig {
    const { config: merged, problems } = this.#profiles.apply(config);
    this.#fitProblems = this.#logNew(this.#fitProblems, problems);
    return merged;
  }

  async close(): Promise<void> {
    this.#watching = undefined;
    await this.#watch?.close();
  }

  /** Logs each problem once, when it first appears. */
  #logNew(before: string[], now: string[]): string[] {
    for (const problem of now) if (!before.includes(problem)) this.#options.logger.error('a ServiceProfile from the cluster is invalid', { problem });
    return now;
  }
}

/**
 * Where a mesh's config comes from when it is not a file on disk (a Kubernetes ConfigMap, say):
 * its first text, read before the mesh starts, and a watch that hands over each valid new version
 * and reports each bad one, as watchConfigFile does for a file. The last good config keeps running
 * through bad versions and through the source being unreachable.
 */
import type { MeshConfig } from './mesh-config.js';

export interface ConfigHandlers {
  onChange(config: MeshConfig): void;
  onError(error: Error): void;
}

export interface ConfigSource {
  /** Names the source in errors and logs, e.g. `configmap shop/mesh#mesh.yaml`. */
  readonly name: string;
  /** The config's text when the source was opened. */
  readonly text: string;
  /** Relative paths in the config (identity files, endpoint files, a kubeconfig) resolve against this. */
  readonly baseDir: string;
  /** Starts reporting changes; closing it also closes the source. */
  watch(handlers: ConfigHandlers): { close(): void };
  /** Stops the source without ever watching it (start-up failed). */
  close(): Promise<void>;
}

/**
 * A mesh config kept in a Kubernetes ConfigMap, named `k8s:configmap/<namespace>/<name>#<key>` (the
 * key defaults to `mesh.yaml`). It is read from the API server before the mesh starts — a missing
 * ConfigMap or key, or an unreachable API server, stops start-up with the reason — and then watched:
 * a change is parsed like a saved file, a bad one is reported (`configmap ns/name#key:line:col: ...`)
 * and the last good config keeps running, as it does when the ConfigMap disappears.
 *
 * Read through the API rather than a mounted volume because kubelet refreshes mounted ConfigMaps
 * only every minute or so, and a read-only root filesystem with no volume is simpler to run.
 */
import type { Clock, Random } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { ConfigHandlers, ConfigSource } from './config-source.js';
import { parseMeshConfig } from './mesh-config.js';
import type { KubeCredentials } from '../discovery/kubernetes/credentials.js';
import type { KubeObject } from '../discovery/kubernetes/list-watch.js';
import { checkNamespace } from '../discovery/kubernetes/kubernetes-target.js';
import { watchCollection } from '../discovery/kubernetes/watch-collection.js';

export const CONFIG_MAP_PREFIX = 'k8s:configmap/';

export interface ConfigMapRef {
  namespace: string;
  name: string;
  key: string;
}

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export function isConfigMapRef(text: string): boolean {
  return text.startsWith('k8s:');
}

/** `k8s:configmap/<namespace>/<name>[#<key>]`; throws a plain Error that says what was expected. */
export function parseConfigMapRef(text: string): ConfigMapRef {
  const match = /^k8s:configmap\/([^/#]+)\/([^/#]+)(?:#(.+))?$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a ConfigMap reference; expected k8s:configmap/<namespace>/<name>#<key>, e.g. k8s:configmap/shop/mesh-config#mesh.yaml`);
  const [, namespace, name, key = 'mesh.yaml'] = match as unknown as [string, string, string, string | undefined];
  checkNamespace(namespace);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) throw new Error(`"${name}" in "${text}" is not a ConfigMap name (lower-case letters, digits, '-' and '.')`);
  return { namespace, name, key };
}

export interface ConfigMapSourceOptions {
  credentials?: KubeCredentials;
  kubeconfig?: string;
  clock?: Clock;
  random?: Random;
  /** Relative paths inside the config. Default: the working directory. */
  baseDir?: string;
  /** Told when the API server cannot be reached (the config in force stays). */
  logger?: Logger;
}

export async function openConfigMapSource(reference: string, options: ConfigMapSourceOptions = {}): Promise<ConfigSource> {
  const ref = parseConfigMapRef(reference);
  const name = `configmap ${ref.namespace}/${ref.name}#${ref.key}`;
  let handlers: ConfigHandlers | undefined;
  let lastText: string | undefined;
  type Outcome = { text: string } | { error: Error };
  let settle: ((outcome: Outcome) => void) | undefined;
  const first = new Promise<Outcome>((resolve) => (settle = resolve));
  /** The first answer settles start-up, once; later ones go to the mesh's handlers. */
  const settleFirst = (outcome: Outcome): boolean => {
    const done = settle;
    settle = undefined;
    done?.(outcome);
    return done !== undefined;
  };

  const textOf = (objects: ReadonlyMap<string, ConfigMap>): string => {
    const configMap = objects.get(`${ref.namespace}/${ref.name}`);
    if (!configMap) throw new MeshError('INVALID_CONFIG', `${name}: the ConfigMap ${ref.namespace}/${ref.name} does not exist`);
    const text = configMap.data?.[ref.key];
    if (text === undefined) {
      throw new MeshError('INVALID_CONFIG', `${name}: the ConfigMap has no key "${ref.key}"; its keys: ${Object.keys(configMap.data ?? {}).join(', ') || '(none)'}`);
    }
    return text;
  };

  const watch = watchCollection<ConfigMap>(
    {
      ...options,
      namespace: ref.namespace,
      path: (namespace) => `/api/v1/namespaces/${namespace}/configmaps`,
      fieldSelector: `metadata.name=${ref.name}`,
    },
    {
      onObjects: (objects) => {
        let text: string;
        try {
          text = textOf(objects);
        } catch (err) {
          if (settleFirst({ error: err as Error })) return;
          return handlers?.onError(new MeshError('INVALID_CONFIG', `${(err as Error).message}; keeping the last good config`));
        }
        if (settleFirst({ text })) {
          lastText = text;
          return;
        }
        if (text === lastText) return;
        lastText = text;
        let config;
        try {
          config = parseMeshConfig(text, name);
        } catch (err) {
          return handlers?.onError(err as Error);
        }
        handlers?.onChange(config);
      },
      onError: (error) => {
        if (settleFirst({ error: new MeshError('INVALID_CONFIG', `${name}: cannot read it from the API server: ${error.message}`, { cause: error }) })) return;
        // Not a bad config: the one in force is still good, so this is a warning, not a config error.
        (options.logger ?? silentLogger).warn('cannot read the config from the API server; the config in force keeps running', { config: name, error: error.message });
      },
    },
  );
  const outcome = await first;
  if ('error' in outcome) {
    await watch.close();
    throw outcome.error;
  }
  return {
    name,
    text: outcome.text,
    baseDir: options.baseDir ?? process.cwd(),
    watch(given) {
      handlers = given;
      return { close: () => void watch.close() };
    },
    close: () => watch.close(),
  };
}

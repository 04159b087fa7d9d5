/**
 * The `discovery` option's Kubernetes forms: the string `k8s:<service>.<namespace>:<port>` and the
 * object form, which adds what a string cannot carry readably:
 *
 *   { type: kubernetes, service: reviews, namespace: default, port: http,
 *     labelSelector: "version=v2",            # ANDed with the Service's own label
 *     kubeconfig: ./kubeconfig, context: dev,  # instead of the pod's service account
 *     watchTimeout: 5m, requestTimeout: 30s, backoff: { base: 1s, max: 30s } }
 *
 * Durations are milliseconds or strings such as `30s`, as everywhere else in the config.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Clock, Random } from '../../core/clock.js';
import { parseDuration } from '../../core/duration.js';
import { KubernetesResolver, type KubernetesResolverOptions } from './kubernetes-resolver.js';
import { checkNamespace, checkPort, checkService, parseKubernetesTarget } from './kubernetes-target.js';

export interface KubernetesDiscoverySpec {
  type: 'kubernetes';
  service: string;
  namespace?: string;
  port: string | number;
  labelSelector?: string;
  kubeconfig?: string;
  context?: string;
  watchTimeout?: number | string;
  requestTimeout?: number | string;
  backoff?: { base?: number | string; max?: number | string };
}

const FIELDS = ['type', 'service', 'namespace', 'port', 'labelSelector', 'kubeconfig', 'context', 'watchTimeout', 'requestTimeout', 'backoff'];

interface Runtime {
  clock?: Clock;
  random?: Random;
  /** Relative kubeconfig paths resolve against this. */
  baseDir?: string;
  /** Label the endpoints with their pods' labels. */
  podLabels?: boolean;
}

export function kubernetesResolverFromString(target: string, runtime: Runtime): KubernetesResolver {
  return new KubernetesResolver({ ...parseKubernetesTarget(target), ...runtimeOptions(runtime) });
}

export function kubernetesResolverFromObject(spec: KubernetesDiscoverySpec, runtime: Runtime): KubernetesResolver {
  return new KubernetesResolver(kubernetesResolverOptions(spec, runtime));
}

/** The resolver's options from the object form; throws an Error naming the field that is wrong. Builds nothing. */
export function kubernetesResolverOptions(spec: KubernetesDiscoverySpec, runtime: Runtime): KubernetesResolverOptions {
  const unknown = Object.keys(spec).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0) throw new Error(`unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; a kubernetes discovery takes ${FIELDS.slice(1).join(', ')}`);
  const options: KubernetesResolverOptions = { service: checkService(spec.service), port: checkPort(spec.port), ...runtimeOptions(runtime) };
  if (spec.namespace !== undefined) options.namespace = checkNamespace(spec.namespace);
  if (spec.labelSelector !== undefined) {
    if (typeof spec.labelSelector !== 'string' || spec.labelSelector.trim() === '') throw new Error(`"labelSelector" must be a label selector such as "version=v2", got ${JSON.stringify(spec.labelSelector)}`);
    options.labelSelector = spec.labelSelector;
  }
  if (spec.kubeconfig !== undefined) {
    if (typeof spec.kubeconfig !== 'string' || spec.kubeconfig === '') throw new Error(`"kubeconfig" must be a file path, got ${JSON.stringify(spec.kubeconfig)}`);
    options.kubeconfig = isAbsolute(spec.kubeconfig) ? spec.kubeconfig : resolve(runtime.baseDir ?? process.cwd(), spec.kubeconfig);
  }
  if (spec.context !== undefined) {
    if (typeof spec.context !== 'string' || spec.context === '') throw new Error(`"context" must be a kubeconfig context name, got ${JSON.stringify(spec.context)}`);
    options.context = spec.context;
  }
  if (spec.watchTimeout !== undefined) options.watchTimeoutSeconds = Math.max(1, Math.round(duration(spec.watchTimeout, 'watchTimeout') / 1000));
  if (spec.requestTimeout !== undefined) options.requestTimeoutMs = duration(spec.requestTimeout, 'requestTimeout');
  if (spec.backoff !== undefined) {
    const { base, max, ...rest } = spec.backoff ?? {};
    if (Object.keys(rest).length > 0) throw new Error(`"backoff" takes base and max, got ${JSON.stringify(spec.backoff)}`);
    options.backoff = {
      ...(base === undefined ? {} : { baseMs: duration(base, 'backoff.base') }),
      ...(max === undefined ? {} : { maxMs: duration(max, 'backoff.max') }),
    };
  }
  return options;
}

function runtimeOptions(runtime: Runtime): Pick<KubernetesResolverOptions, 'clock' | 'random' | 'podLabels'> {
  return { ...(runtime.clock ? { clock: runtime.clock } : {}), ...(runtime.random ? { random: runtime.random } : {}), ...(runtime.podLabels ? { podLabels: true } : {}) };
}

function duration(value: unknown, field: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) throw new Error(`"${field}" must be a duration such as 30s or 5m, got ${JSON.stringify(value)}`);
  return ms;
}

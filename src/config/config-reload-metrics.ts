/**
 * Counts config file reloads on the mesh's registry, so that a config that stopped applying (a
 * truncated ConfigMap, a typo pushed to every pod) shows on a dashboard and can be alerted on, not
 * only in the logs. Named after Prometheus's own `*_reloads_total` / `*_reload_failures_total`.
 */
import { Counter, type Registry } from 'prom-client';
import type { ConfigRejection } from './config-watcher.js';

/** `not_applied`: the file was valid but building its services failed. */
export type ReloadFailureReason = ConfigRejection | 'not_applied';
const APPLIED = 'meshwork_config_reloads_total';
const FAILED = 'meshwork_config_reload_failures_total';
const REASONS: readonly ReloadFailureReason[] = ['empty', 'invalid', 'unreadable', 'not_applied'];

export class ConfigReloadMetrics {
  readonly #applied: Counter;
  readonly #failed: Counter<'reason'>;

  constructor(registry: Registry) {
    // Meshes that share a registry share these counters (prom-client refuses a name twice).
    this.#applied = (registry.getSingleMetric(APPLIED) as Counter | undefined) ?? new Counter({ name: APPLIED, help: 'Config file changes applied.', registers: [registry] });
    this.#failed =
      (registry.getSingleMetric(FAILED) as Counter<'reason'> | undefined) ??
      new Counter({
        name: FAILED,
        help: 'Config file changes rejected, the last good config kept running; reason: empty, invalid, unreadable or not_applied.',
        labelNames: ['reason'],
        registers: [registry],
      });
    // Every reason starts at 0, so that increase() sees the first failure (an absent series has none).
    for (const reason of REASONS) this.#failed.inc({ reason }, 0);
  }

  applied(): void {
    this.#applied.inc();
  }

  failed(reason: ReloadFailureReason): void {
    this.#failed.inc({ reason });
  }
}

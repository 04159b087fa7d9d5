/**
 * What the admin pages read, for one mesh: its live stats windows (listening to the mesh's
 * RequestObserver from the moment the view exists) and its tap. The sidecar makes one for its admin
 * port, `mesh.admin()` one for a library process; both serve it through admin-routes.ts.
 */
import type { Clock } from '../core/clock.js';
import type { AdminSettings } from '../config/admin-schema.js';
import type { MeshMetrics } from '../telemetry/mesh-metrics.js';
import { MeshStats } from './mesh-stats.js';
import { summarize, type MeshSummary, type SummarySource } from './mesh-summary.js';
import { TapBus } from './tap-bus.js';

export interface AdminViewOptions {
  /** The services whose breaker, retry budget and endpoints the summary shows. */
  source: SummarySource;
  /** Where the stack reports its requests and events (the mesh's). */
  metrics: MeshMetrics;
  clock: Clock;
  /** Read when needed, so a config reload can turn tap on or off; the stats window is read once. */
  settings: () => AdminSettings;
  /** This process in the topology (its SPIFFE ID, or a name). */
  self: () => string;
}

export class AdminView {
  readonly stats: MeshStats;
  readonly tap: TapBus;
  readonly #options: AdminViewOptions;
  readonly #stopStats: () => void;

  constructor(options: AdminViewOptions) {
    this.#options = options;
    this.stats = new MeshStats(options.clock, options.settings().statsWindowMs);
    this.#stopStats = options.metrics.observer.listen(this.stats);
    this.tap = new TapBus(options.metrics.observer, options.clock, () => options.settings().tap);
  }

  summary(): MeshSummary {
    return summarize(this.stats.read(), this.#options.source, this.#options.self(), this.tap.enabled);
  }

  close(): void {
    this.#stopStats();
    this.tap.close();
  }
}

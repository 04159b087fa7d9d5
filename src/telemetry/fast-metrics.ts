/**
 * A counter and a histogram for the per-request path, served through a prom-client Registry.
 * prom-client's own hash the label object on every `inc`/`observe` (even through a `labels()`
 * child), which made the golden metrics about 6 µs of CPU per in-process request; here a caller keeps
 * the handle of a label set and an update is a number bump. Only a scrape builds label objects.
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** The shape prom-client's Registry reads from any registered metric. */
interface RegistryMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): { name: string; help: string; type: 'counter' | 'histogram'; values: MetricValue[]; aggregator: 'sum' };
  reset(): void;
}

export class FastCounter implements RegistryMetric {
  readonly type = 'counter' as const;
  readonly aggregator = 'sum' as const;
  readonly #series = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The handle for one label set; keep it, and `handle.value += n` is the whole update. */
  series(key: string, labels: Labels): { value: number } {
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.#series.values()].map((s) => ({ labels: s.labels, value: s.value })) };
  }

  reset(): void {
    this.#series.clear();
  }
}

export interface HistogramSeries {
  observe(value: number): void;
}

export class FastHistogram implements RegistryMetric {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #buckets: readonly number[];
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number; observe(value: number): void }>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.#buckets = [...buckets].sort((a, b) => a - b);
    registry.registerMetric(this as never);
  }

  series(key: string, labels: Labels): HistogramSeries {
    let series = this.#series.get(key);
    if (series === undefined) {
      const buckets = this.#buckets;
      const created = {
        labels,
        // Per-bucket (not cumulative) counts; the last slot is +Inf.
        counts: new Array<number>(buckets.length + 1).fill(0),
        sum: 0,
        count: 0,
        observe(value: number) {
          let i = 0;
          while (i < buckets.length && value > buckets[i]!) i++;
          created.counts[i]!++;
          created.sum += value;
          created.count++;
        },
      };
      series = created;
      this.#series.set(key, series);
    }
    return series;
  }

  get() {
    const values: MetricValue[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ labels: { le: String(this.#buckets[i]), ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}

/**
 * A latency histogram fine enough for p50 / p95 / p99 at a glance: log-linear buckets, 16 per
 * doubling (each about 6% wide, as HdrHistogram does with one significant digit and a bit), from
 * 1/16 ms up to about 17 minutes, in 352 counters. Prometheus' `response_latency_ms` buckets (…, 50,
 * 100, 200, … ms) would put an injected 100 ms delay anywhere between 50 and 200 ms; these keep it
 * within 6%. Percentiles are interpolated inside the bucket, as PromQL's histogram_quantile does.
 */
const SUB_BUCKETS = 16;
const MAX_EXPONENT = 24;
export const HISTOGRAM_BUCKETS = SUB_BUCKETS + (MAX_EXPONENT - 4 + 1) * SUB_BUCKETS;

export class LatencyHistogram {
  readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  total = 0;

  record(ms: number): void {
    this.counts[bucketOf(ms)]!++;
    this.total++;
  }

  /** Adds `other`'s counts to this one (merging windows, or routes into their service). */
  add(other: LatencyHistogram): void {
    if (other.total === 0) return;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
  }

  clear(): void {
    this.counts.fill(0);
    this.total = 0;
  }

  /** The latency (ms) under which a fraction `q` of the observations fall; undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.total === 0) return undefined;
    const rank = q * this.total;
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      const count = this.counts[i]!;
      if (count === 0) continue;
      if (seen + count >= rank) {
        const lower = lowerBound(i);
        return lower + (upperBound(i) - lower) * Math.max(0, (rank - seen) / count);
      }
      seen += count;
    }
    return upperBound(HISTOGRAM_BUCKETS - 1);
  }
}

/** Below 1 ms, buckets are 1/16 ms wide; above, each doubling is cut into 16. */
export function bucketOf(ms: number): number {
  const units = ms * SUB_BUCKETS;
  if (!(units >= SUB_BUCKETS)) return units > 0 ? Math.floor(units) : 0;
  const exponent = Math.min(MAX_EXPONENT, Math.floor(Math.log2(units)));
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor(units / 2 ** (exponent - 4)) - SUB_BUCKETS);
  return SUB_BUCKETS + (exponent - 4) * SUB_BUCKETS + sub;
}

function lowerBound(index: number): number {
  if (index < SUB_BUCKETS) return index / SUB_BUCKETS;
  const exponent = 4 + Math.floor((index - SUB_BUCKETS) / SUB_BUCKETS);
  const sub = (index - SUB_BUCKETS) % SUB_BUCKETS;
  return ((SUB_BUCKETS + sub) * 2 ** (exponent - 4)) / SUB_BUCKETS;
}

function upperBound(index: number): number {
  return index + 1 < HISTOGRAM_BUCKETS ? lowerBound(index + 1) : lowerBound(index) * 2;
}

// Golden metrics (success rate, request rate, latency percentiles) from successive /metrics
// scrapes of one sidecar, computed the way `linkerd viz stat` does: counters and histogram buckets
// are cumulative, so the numbers for "the last N seconds" come from the difference between the
// newest scrape and the one N seconds older, never from the totals since the proxy started.

/**
 * What one scrape says, folded to what the table needs. Routes, status codes and error reasons are
 * summed away: the table has one row per (direction, authority).
 * @typedef {{ direction: string, authority: string, responses: number, successes: number, buckets: Map<number, number> }} Traffic
 * @typedef {{ traffic: Map<string, Traffic>, events: Map<string, number> }} Snapshot
 */

/** @param {import('./prometheus-text.mjs').Sample[]} samples @returns {Snapshot} */
export function foldScrape(samples) {
  const traffic = new Map();
  const events = new Map();
  const trafficFor = ({ direction, authority }) => {
    const key = `${direction}\u0000${authority}`;
    let t = traffic.get(key);
    if (t === undefined) {
      t = { direction, authority, responses: 0, successes: 0, buckets: new Map() };
      traffic.set(key, t);
    }
    return t;
  };
  for (const { name, labels, value } of samples) {
    if (name === 'response_total' && labels.direction && labels.authority) {
      const t = trafficFor(labels);
      t.responses += value;
      if (labels.classification === 'success') t.successes += value;
    } else if (name === 'response_latency_ms_bucket' && labels.direction && labels.authority && labels.le !== undefined) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      const buckets = trafficFor(labels).buckets;
      buckets.set(le, (buckets.get(le) ?? 0) + value);
    } else if (name.startsWith('meshwork_') && labels.authority !== undefined) {
      const key = eventKey(name, labels.authority);
      events.set(key, (events.get(key) ?? 0) + value);
    }
  }
  return { traffic, events };
}

const eventKey = (metric, authority) => `${metric}\u0000${authority}`;

/** The scrapes of one sidecar that are no older than the window. */
export class ScrapeHistory {
  /** @type {{ at: number, snapshot: Snapshot }[]} */
  #scrapes = [];
  #windowMs;

  constructor(windowMs) {
    this.#windowMs = windowMs;
  }

  add(at, snapshot) {
    this.#scrapes.push({ at, snapshot });
    while (this.#scrapes.length > 1 && this.#scrapes[0].at < at - this.#windowMs) this.#scrapes.shift();
  }

  /** The rows for the window that ends at the newest scrape and how many seconds it spans. */
  current() {
    const newest = this.#scrapes[this.#scrapes.length - 1];
    const oldest = this.#scrapes[0];
    if (newest === undefined || oldest === undefined || oldest === newest) return { seconds: 0, rows: [] };
    const seconds = (newest.at - oldest.at) / 1000;
    return { seconds, rows: windowStats(newest.snapshot, oldest.snapshot, seconds) };
  }
}

/**
 * @typedef {{ direction: string, authority: string, responses: number, successRate: number | undefined,
 *   rps: number, p50: number | undefined, p95: number | undefined, p99: number | undefined,
 *   perSecond: (metric: string) => number }} WindowRow
 * @param {Snapshot} newer @param {Snapshot} older @param {number} seconds
 * @returns {WindowRow[]}
 */
export function windowStats(newer, older, seconds) {
  const rows = [];
  for (const [key, now] of newer.traffic) {
    // A label set that first appeared inside the window counts from zero, which is what it was.
    const before = older.traffic.get(key);
    const responses = now.responses - (before?.responses ?? 0);
    const successes = now.successes - (before?.successes ?? 0);
    const buckets = [...now.buckets]
      .map(([le, count]) => [le, count - (before?.buckets.get(le) ?? 0)])
      .sort((a, b) => a[0] - b[0]);
    const eventsPerSecond = (metric) => {
      const key = eventKey(metric, now.authority);
      return ((newer.events.get(key) ?? 0) - (older.events.get(key) ?? 0)) / seconds;
    };
    rows.push({
      direction: now.direction,
      authority: now.authority,
      responses,
      successRate: responses > 0 ? successes / responses : undefined,
      rps: responses / seconds,
      p50: histogramQuantile(0.5, buckets),
      p95: histogramQuantile(0.95, buckets),
      p99: histogramQuantile(0.99, buckets),
      perSecond: eventsPerSecond,
    });
  }
  return rows.sort((a, b) => a.direction.localeCompare(b.direction) || a.authority.localeCompare(b.authority));
}

/**
 * The q-quantile of a histogram given as [upper bound, cumulative count] pairs sorted by bound, as
 * PromQL's histogram_quantile computes it: find the bucket the rank falls in and assume observations
 * are spread evenly inside it. The answer is only as fine as the buckets: with Linkerd's 100 and
 * 200 ms bounds, anything between them reads as somewhere in that range. A rank in the +Inf bucket
 * answers the highest finite bound, the most the histogram can say.
 * @param {number} q @param {[number, number][]} buckets @returns {number | undefined}
 */
export function histogramQuantile(q, buckets) {
  if (buckets.length === 0) return undefined;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let countBelow = 0;
  for (const [upperBound, cumulative] of buckets) {
    if (cumulative >= rank && cumulative > countBelow) {
      if (upperBound === Infinity) return lowerBound;
      return lowerBound + ((upperBound - lowerBound) * (rank - countBelow)) / (cumulative - countBelow);
    }
    lowerBound = upperBound;
    countBelow = cumulative;
  }
  return lowerBound;
}

/**
 * Fixed-width text columns: the first left-aligned, the rest right-aligned, like kubectl and linkerd.
 * @param {string[]} header @param {string[][]} rows @returns {string[]}
 */
export function formatColumns(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export const formatPercent = (ratio) => (ratio === undefined ? '-' : `${(ratio * 100).toFixed(2)}%`);
export const formatRate = (perSecond) => perSecond.toFixed(1);
export const formatMs = (ms) => (ms === undefined ? '-' : `${ms < 9.95 ? ms.toFixed(1) : Math.round(ms)}ms`);

/**
 * deploy/grafana/meshwork.json against what the code exports: every metric its PromQL names must be
 * one a mesh registers (golden metrics, stack events, identity, config reloads, span export, the
 * adaptive limit, egress refusals), so the dashboard and the metric names cannot drift apart. The
 * mesh here has every optional part on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMesh } from '../../src/index.js';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';

const DASHBOARD = new URL('../../deploy/grafana/meshwork.json', import.meta.url);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

/** Every PromQL expression in the dashboard: the panels' queries and the template variables'. */
function expressions(dashboard: { panels: Panel[]; templating: { list: { query: unknown }[] } }): string[] {
  const fromPanels = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const fromVariables = dashboard.templating.list.map((v) => (typeof v.query === 'object' && v.query !== null ? (v.query as { query: string }).query : '')).filter((q) => q.includes('('));
  return [...fromPanels, ...fromVariables];
}

/** The metric names a PromQL expression selects: a name before a selector or range, or label_values' first argument. */
function metricNames(expr: string): string[] {
  const names = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)/g)].map((m) => m[1]!);
  const labelValues = [...expr.matchAll(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/g)].map((m) => m[1]!);
  // `$__rate_interval]` and the like are not metrics; neither is a label inside braces.
  return [...new Set([...names, ...labelValues])].filter((n) => !n.startsWith('__'));
}

/** The series names a scrape can have: histograms also as _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-grafana-'));
  try {
    const ca = await createAuthority({ trustDomain: 'cluster.local' });
    const files = await writeLeaf(join(dir, 'id'), await issueLeaf(ca, 'spiffe://cluster.local/ns/default/sa/simon'), ca.root.certPem);
    const config = join(dir, 'mesh.yaml');
    writeFileSync(
      config,
      `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  identity: { certFile: ${files.certFile}, keyFile: ${files.keyFile}, trustAnchorsFile: ${files.caFile} }
  tracing: { otlp: { endpoint: "http://127.0.0.1:9/v1/traces" } }
  egress: { allow: [{ host: partner.example.test }] }
  services:
    words: { endpoints: ["127.0.0.1:9"], limits: { adaptive: true } }
`,
    );
    const mesh = createMesh({ config });
    try {
      const names = new Set<string>();
      for (const metric of await mesh.registry.getMetricsAsJSON()) {
        names.add(metric.name);
        if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
      }
      return names;
    } finally {
      await mesh.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the metric name extraction finds names before selectors and ranges, and only those', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, authority) (rate(response_latency_ms_bucket{direction=~"$direction"}[$__rate_interval])))'), ['response_latency_ms_bucket']);
  assert.deepEqual(metricNames('min by (spiffe_id) (meshwork_identity_certificate_expiry_timestamp_seconds) - time()'), []);
  assert.deepEqual(metricNames('label_values(request_total{direction=~"$direction"}, authority)'), ['request_total']);
});

test('every metric the Grafana dashboard queries is one the code exports', async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const exported = await exportedNames();
  const queried = new Set(expressions(dashboard).flatMap(metricNames));
  // Names used bare (no selector) are checked by name too.
  for (const expr of expressions(dashboard)) for (const name of expr.match(/\bmeshwork_[a-z_]+\b/g) ?? []) queried.add(name);
  assert.ok(queried.size >= 15, `the dashboard queries only ${[...queried].join(', ')}`);
  const missing = [...queried].filter((name) => !exported.has(name)).sort();
  assert.deepEqual(missing, [], `the dashboard queries metrics the code does not export; the code has: ${[...exported].sort().join(', ')}`);
  for (const golden of ['request_total', 'response_total', 'response_latency_ms_bucket']) assert.ok(queried.has(golden), `no panel over ${golden}`);
});

test('the dashboard is well formed: unique panel ids, every panel placed on the 24-column grid, a Prometheus data source variable', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} is off the grid`);
    if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${p.title} has no query`);
  }
  assert.deepEqual(dashboard.templating.list.map((v) => `${v.name}:${v.type}`), ['datasource:datasource', 'direction:custom', 'authority:query']);
  assert.equal(dashboard.uid, 'meshwork-golden');
});

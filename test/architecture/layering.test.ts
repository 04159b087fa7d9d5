/**
 * The layout shows the request path: every folder of src/ imports only from the folders below it,
 * and no file imports itself back through others. A new import that breaks this fails here, naming
 * the file and what it imports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cycles, folderOf, importGraph } from './import-graph.js';

/** Bottom first: each folder may use the ones before it. ARCHITECTURE.md describes each. */
const LAYERS = ['core', 'http', 'policy', 'telemetry', 'tls', 'discovery', 'balancer', 'config', 'admin', 'filters', 'client', 'grpc', 'sidecar-mode'];

test('no import cycle between files of src/', () => {
  const found = cycles(importGraph());
  assert.deepEqual(found.map((c) => c.join(' -> ')), []);
});

test('every folder imports only from the folders below it', () => {
  const graph = importGraph();
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    if (from === '.') continue; // src/index.ts is the public API: it re-exports from anywhere
    assert.ok(LAYERS.includes(from), `src/${from}/ is a folder this test does not know; place it in LAYERS`);
    for (const target of targets) {
      const to = folderOf(target);
      if (to === from) continue;
      if (!(LAYERS.indexOf(to) < LAYERS.indexOf(from))) upward.push(`${file} imports ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('the checks can fail: a cycle and an upward import are found', () => {
  const graph = new Map([
    ['core/a.ts', ['filters/b.ts']],
    ['filters/b.ts', ['core/a.ts']],
  ]);
  assert.equal(cycles(graph).length, 1);
  assert.ok(LAYERS.indexOf('filters') > LAYERS.indexOf('core'));
});
